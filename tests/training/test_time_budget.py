"""Training to a time budget: the whole schedule runs, on time, and a resumed fold
continues the same schedule on the time left."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from covplan.training import trainer as trainer_module
from covplan.training.checkpoints import load_checkpoint
from covplan.training.trainer import Trainer
from tests.fake_plugins import RecordingTracker, Registers

pytestmark = pytest.mark.slow

BUDGET_S = 30.0
# A budget this small is mostly fixed costs (building the network, the measurement, the
# final validation's reserve) that a busy CI machine makes vary: the run must not pass
# the budget by more than 10 %, and must use most of it.
SETTINGS = TrainingSettings(time_budget_s=BUDGET_S, num_workers=0, test_time_mirroring=False)


def read_log(fold_folder):
    with open(fold_folder / "training_log.csv") as handle:
        return list(csv.DictReader(handle))


def test_a_time_budget_runs_the_whole_schedule_and_ends_on_time(disc_work, register_plugin):
    recorder = RecordingTracker()  # the probe's measurement and the schedule are reported too
    register_plugin(Registers(recorder), "recording-plugin")
    train_fold(disc_work, "plain_unet", 0, settings=replace(SETTINGS, trackers=("recording",)))
    fold_folder = disc_work / "plain_unet__2d" / "fold_0"
    record = json.loads((fold_folder / "fold_time.json").read_text())
    assert 0.6 * BUDGET_S <= record["total_s"] <= 1.1 * BUDGET_S
    schedule = record["budget"]["schedule"]
    checkpoint = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert checkpoint["epoch"] == schedule["epochs"] == record["epochs"] >= 2
    assert checkpoint["settings"]["num_epochs"] == schedule["epochs"]
    assert checkpoint["lr_scheduler_state"]["ctr"] == schedule["epochs"] + 1  # decayed to its last epoch
    rows = read_log(fold_folder)
    epochs = schedule["epochs"]
    assert float(rows[-1]["lr"]) == pytest.approx(1e-2 * (1 / epochs) ** 0.9)
    assert record["last_lr"] == pytest.approx(float(rows[-1]["lr"]))
    assert sum(int(row["iterations"]) for row in rows) == record["steps"] > epochs
    elapsed = [float(row["elapsed_s"]) for row in rows]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= record["training_s"]
    assert (fold_folder / "validation" / "summary.json").is_file()
    assert record["budget"]["throughput"]["seconds_per_step"] > 0
    reported = [call[2] for call in recorder.calls if call[0] == "log_params"]
    assert reported == [{**{f"budget.throughput.{key}": value for key, value in record["budget"]["throughput"].items()},
                         **{f"budget.schedule.{key}": value for key, value in schedule.items()},
                         "budget.budget_s": record["budget"]["budget_s"]}]


def test_a_resumed_fold_keeps_its_schedule_and_spends_only_what_is_left(disc_work, monkeypatch):
    monkeypatch.setattr(trainer_module, "CHECKPOINT_INTERVAL_S", 0.0)  # a checkpoint every epoch
    end_epoch = Trainer.end_epoch

    def end_epoch_then_killed(trainer, row):
        end_epoch(trainer, row)
        if trainer.state.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "end_epoch", end_epoch_then_killed)
    settings = TrainingSettings(time_budget_s=BUDGET_S, num_workers=0, evaluate=False)
    with pytest.raises(KeyboardInterrupt):
        train_fold(disc_work, "plain_unet", 0, settings=settings)
    monkeypatch.setattr(Trainer, "end_epoch", end_epoch)
    fold_folder = disc_work / "plain_unet__2d" / "fold_0"
    interrupted = load_checkpoint(fold_folder / "checkpoint_latest.pth")
    assert interrupted["epoch"] == 2
    spent_before = interrupted["history"][-1]["elapsed_s"]

    train_fold(disc_work, "plain_unet", 0, settings=TrainingSettings(num_workers=0, evaluate=False), resume=True)
    final = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert final["budget"]["schedule"] == interrupted["budget"]["schedule"]
    assert final["epoch"] == final["budget"]["schedule"]["epochs"]
    assert final["lr_scheduler_state"]["ctr"] == final["epoch"] + 1
    elapsed = [row["elapsed_s"] for row in final["history"]]
    assert elapsed[:2] == [row["elapsed_s"] for row in interrupted["history"]]
    assert spent_before < elapsed[-1] <= 1.1 * BUDGET_S


def test_a_fold_trained_without_a_budget_is_not_resumed_with_one(disc_work):
    settings = TrainingSettings(num_epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0,
                                evaluate=False)
    train_fold(disc_work, "plain_unet", 0, settings=settings)
    # As if stopped before the end: a finished fold is not resumed at all.
    (disc_work / "plain_unet__2d" / "fold_0" / "checkpoint_final.pth").unlink()
    with pytest.raises(CovplanError, match="trained without --time-budget; resume it without --time-budget"):
        train_fold(disc_work, "plain_unet", 0, settings=SETTINGS, resume=True)


def test_a_budget_too_small_for_one_step_says_what_would_fit(disc_work):
    with pytest.raises(CovplanError, match=r"does not fit one training step .* give --time-budget [\d.]+ or more"):
        train_fold(disc_work, "plain_unet", 0, settings=TrainingSettings(time_budget_s=0.5, num_workers=0))
