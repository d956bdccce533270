"""A killed run resumed from checkpoint_latest.pth ends where the uninterrupted run ends."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from covplan.training.checkpoints import load_checkpoint
from covplan.training.trainer import Trainer

pytestmark = pytest.mark.slow

# One process loads the batches, so the run is reproducible to the bit.
SETTINGS = TrainingSettings(num_epochs=2, iterations_per_epoch=3, validation_iterations=1, num_workers=0,
                            evaluate=False)


def read_log(fold_folder):
    with open(fold_folder / "training_log.csv") as handle:
        # Measurements, not results: they differ between two runs of the same computation.
        return [{key: value for key, value in row.items() if key not in ("epoch_time_s", "memory_mb", "elapsed_s")}
                for row in csv.DictReader(handle)]


def test_resume_after_a_kill_reaches_the_same_result(sphere_work, tmp_path, monkeypatch):
    interrupted_work = shutil.copytree(sphere_work, tmp_path / "interrupted")
    train_fold(sphere_work, "plain_unet", 0, settings=SETTINGS)

    end_epoch = Trainer.end_epoch

    def end_epoch_then_killed(trainer, row):
        end_epoch(trainer, row)
        if trainer.state.epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "end_epoch", end_epoch_then_killed)
    with pytest.raises(KeyboardInterrupt):
        train_fold(interrupted_work, "plain_unet", 0, settings=SETTINGS)
    monkeypatch.undo()
    interrupted_fold = interrupted_work / "plain_unet__3d_fullres" / "fold_0"
    assert load_checkpoint(interrupted_fold / "checkpoint_latest.pth")["epoch"] == 1
    assert not (interrupted_fold / "checkpoint_final.pth").exists()

    train_fold(interrupted_work, "plain_unet", 0, settings=SETTINGS, resume=True)

    straight_fold = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    straight = load_checkpoint(straight_fold / "checkpoint_final.pth")
    resumed = load_checkpoint(interrupted_fold / "checkpoint_final.pth")
    assert resumed["epoch"] == straight["epoch"] == 2
    for name, tensor in straight["network_weights"].items():
        assert torch.equal(resumed["network_weights"][name], tensor), name
    for name, state in straight["optimizer_state"]["state"].items():
        assert torch.equal(resumed["optimizer_state"]["state"][name]["momentum_buffer"], state["momentum_buffer"])
    assert resumed["lr_scheduler_state"]["ctr"] == straight["lr_scheduler_state"]["ctr"]
    assert read_log(interrupted_fold) == read_log(straight_fold)


def test_resume_without_a_checkpoint_trains_from_the_start_and_other_plans_are_refused(sphere_work, caplog):
    settings = TrainingSettings(**{**SETTINGS.__dict__, "num_epochs": 1})
    train_fold(sphere_work, "plain_unet", 0, settings=settings, resume=True)
    assert "nothing to resume" in caplog.text
    assert load_checkpoint(sphere_work / "plain_unet__3d_fullres" / "fold_0" / "checkpoint_final.pth")["epoch"] == 1

    (sphere_work / "plain_unet__3d_fullres" / "fold_0" / "checkpoint_final.pth").unlink()  # a run killed before its end
    plans_file = sphere_work / "plans_plain_unet.json"
    plans = json.loads(plans_file.read_text())
    plans["configurations"]["3d_fullres"]["batch_size"] = 1
    plans_file.write_text(json.dumps(plans))
    with pytest.raises(CovplanError, match="trained with other plans .* train again without --resume"):
        train_fold(sphere_work, "plain_unet", 0, settings=settings, resume=True)


def test_resume_of_a_finished_fold_says_so_and_changes_nothing(sphere_work, caplog):
    settings = TrainingSettings(**{**SETTINGS.__dict__, "num_epochs": 1, "evaluate": True,
                                   "test_time_mirroring": False})
    first = train_fold(sphere_work, "plain_unet", 0, settings=settings)
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    written = {path.name: path.stat().st_mtime_ns for path in fold_folder.iterdir() if path.is_file()}
    again = train_fold(sphere_work, "plain_unet", 0, settings=settings, resume=True)
    assert f"{fold_folder} is finished (checkpoint_final.pth is its last checkpoint): nothing to resume" in caplog.text
    assert {path.name: path.stat().st_mtime_ns for path in fold_folder.iterdir() if path.is_file()} == written
    assert again["foreground_mean"]["Dice"] == pytest.approx(first["foreground_mean"]["Dice"])
