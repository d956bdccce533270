"""``covplan tune`` (covplan/search/study.py, results.py): a study on the tiny discs finds and
writes its best settings, continues after a dead trial, and hands an architecture's own
parameters to its network."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.search import SearchSpace, Study, default_storage, open_study, run_trials
from covplan.search.trial import suggest
from covplan.training import TrainingSettings
from covplan.training.checkpoints import load_checkpoint
from covplan.training.trainer import Trainer
from covplan.training.inputs import load_training_inputs, with_plan_overrides
from tests.fake_plugins import Registers

optuna = pytest.importorskip("optuna", reason="covplan tune needs optuna (pip install 'covplan[tune]')")

# Two epochs of one step: enough for a pseudo Dice per epoch, a second or two per trial.
TINY_TRIAL = ["--epochs", "2", "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta",
              "--device", "cpu"]


@pytest.mark.slow
def test_a_three_trial_study_writes_its_best_settings_which_train_takes(disc_work):
    result = CliRunner().invoke(cli, ["tune", str(disc_work), "-a", "plain_unet", "--trials", "3", "--loss", "dice_ce",
                                      "--augmentation", "nnunet", "--keep-models", "best", *TINY_TRIAL])
    assert result.exit_code == 0, result.output
    folder = disc_work / "tune" / "plain_unet"
    with open(folder / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    best_row = max(rows, key=lambda row: float(row["value"]))
    best = json.loads((folder / "best_settings.json").read_text())
    assert (best["architecture"], best["configuration"], best["trial"]) == ("plain_unet", "2d", int(best_row["trial"]))
    assert best["settings"]["initial_lr"] == pytest.approx(float(best_row["initial_lr"]))
    assert best["settings"]["batch_size"] == max(1, round(2 * float(best_row["batch_scale"])))
    assert (folder / "trials.png").stat().st_size > 0
    assert f"best: trial {best['trial']}, cross-validation foreground Dice {best['value']:.4f}" in result.output
    # --keep-models best: only the best trial keeps its checkpoints; every trial keeps its log.
    kept = sorted(path.parts[-4] for path in folder.glob("trial_*/*/fold_0/checkpoint_final.pth"))
    assert kept == [f"trial_{best['trial']:04d}"]
    assert len(list(folder.glob("trial_*/*/fold_0/training_log.csv"))) == 3

    result = CliRunner().invoke(cli, ["train", str(disc_work), "-a", "plain_unet", "-f", "1", "--settings",
                                      str(folder / "best_settings.json"), "--epochs", "1", "--no-evaluate",
                                      "--num-workers", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint(disc_work / "plain_unet__2d" / "fold_1" / "checkpoint_final.pth")
    assert checkpoint["settings"]["initial_lr"] == pytest.approx(best["settings"]["initial_lr"])
    assert checkpoint["settings"]["num_epochs"] == 1  # the command line wins over the file
    assert checkpoint["settings"]["iterations_per_epoch"] == 1  # the file's, over the option's default
    assert checkpoint["init_args"]["plans"]["configurations"]["2d"]["batch_size"] == best["settings"]["batch_size"]


def _study(work: Path, trials: int, **changes) -> Study:
    space = SearchSpace(("plain_unet",), ("2d",), ("dice_ce",), ("nnunet",))
    settings = TrainingSettings(num_epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0,
                                test_time_mirroring=False, device="cpu")
    return replace(Study(work, "resumed", default_storage(work, "resumed"), trials, space, settings, (0,)),
                   **changes)


@pytest.mark.slow
def test_trials_that_died_or_were_interrupted_are_retried_in_their_folders_when_the_study_continues(disc_work):
    study = _study(disc_work, trials=2, heartbeat_s=1, grace_s=1)
    optuna_study = open_study(study)
    with pytest.warns(UserWarning, match="Heartbeat"):  # Optuna's heartbeat runs in optimize(), not ask()
        dead, stopped = optuna_study.ask(), optuna_study.ask()
    # What a killed process leaves: a RUNNING trial whose heartbeat stopped.
    dead.set_user_attr("folder", str(study.folder / "trial_0000"))
    optuna_study._storage.record_heartbeat(dead._trial_id)
    # What SIGTERM or Ctrl-C leaves: a trial that said so before its process ended.
    stopped.set_user_attr("folder", str(study.folder / "trial_0001"))
    stopped.set_user_attr("interrupted", True)
    time.sleep(2.0)

    run_trials(study)

    trials = open_study(study).get_trials()
    assert [trial.state.name for trial in trials] == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    retries = {trial.system_attrs["failed_trial"]: trial.user_attrs["folder"] for trial in trials[2:]}
    assert retries == {0: str(study.folder / "trial_0000"), 1: str(study.folder / "trial_0001")}
    for folder in retries.values():
        assert (Path(folder) / "plain_unet__2d" / "fold_0" / "checkpoint_final.pth").is_file()
    run_trials(study)  # the study has its two trials: nothing more runs
    assert len(open_study(study).get_trials()) == 4


@pytest.mark.slow
def test_an_architectures_search_space_reaches_build_network_and_the_plans(disc_work, register_plugin):
    from covplan.architectures.plain_unet import PlainUNet

    built = []

    class Searched(PlainUNet):
        """plain_unet with a searchable parameter."""

        name = "searched_unet"

        def search_space(self):
            return {"depth_hint": [3, 4]}

        def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
            built.append(plan.get("architecture_params"))
            return super().build_network(plan, num_input_channels, num_classes, deep_supervision)

    register_plugin(Registers(Searched()), "searched")
    shutil.copy(disc_work / "plans_plain_unet.json", disc_work / "plans_searched_unet.json")
    space = SearchSpace(("searched_unet",), ("2d",), ("dice_ce",), ("nnunet",))
    trial = optuna.trial.FixedTrial({"architecture": "searched_unet", "configuration": "2d", "batch_scale": 0.5,
                                     "searched_unet.depth_hint": 4, "loss": "dice_ce", "initial_lr": 1e-3,
                                     "augmentation": "nnunet"})
    architecture, configuration, changes = suggest(trial, space, disc_work)
    assert changes["architecture_params"] == {"depth_hint": 4} and changes["batch_size"] == 1

    trainer = Trainer(load_training_inputs(disc_work, architecture, configuration), 0,
                      TrainingSettings(num_workers=0, device="cpu", **changes))
    trainer.shutdown_loaders()
    assert built[-1] == {"depth_hint": 4}
    plan = trainer.inputs.plans["configurations"]["2d"]
    assert (plan["architecture_params"], plan["batch_size"]) == ({"depth_hint": 4}, 1)
    unchanged = load_training_inputs(disc_work, architecture, configuration)
    assert with_plan_overrides(unchanged, None, None) is unchanged
    assert "architecture_params" not in unchanged.plan


def test_without_optuna_the_error_names_the_extra(disc_work, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = CliRunner().invoke(cli, ["tune", str(disc_work), "--trials", "1"])
    assert result.exit_code == 1
    assert result.output == "Error: covplan tune needs optuna, which is not installed; pip install 'covplan[tune]'\n"


def test_a_storage_that_cannot_be_opened_is_one_line_and_writes_nothing(disc_work, tmp_path):
    storage = f"sqlite:///{tmp_path / 'no_such_folder' / 'study.db'}"
    result = CliRunner().invoke(cli, ["tune", str(disc_work), "--trials", "1", "--storage", storage])
    assert result.exit_code == 1
    assert result.output == (f"Error: cannot open the study storage {storage} (OperationalError: "
                             "(sqlite3.OperationalError) unable to open database file); give --storage an Optuna "
                             "storage URL, e.g. sqlite:///study.db or postgresql://user:password@host/database\n")
    assert not (disc_work / "tune").exists()
