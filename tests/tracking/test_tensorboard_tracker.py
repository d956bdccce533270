"""``--tracker tensorboard``: event files in the fold folder that TensorBoard's own reader
reads back as the training log's numbers, the run's parameters and its files."""

from __future__ import annotations

import csv

import pytest

from covplan.training import TrainingSettings, train_fold
from tests.work_folders import TINY_TRAINING

pytestmark = pytest.mark.slow

EPOCHS = 2


def test_event_files_hold_every_epoch_of_the_log_and_the_run(disc_work):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = TrainingSettings(num_epochs=EPOCHS, **{**TINY_TRAINING, "iterations_per_epoch": 2},
                                trackers=("tensorboard",))
    summary = train_fold(disc_work, "plain_unet", 0, settings=settings)
    fold_folder = disc_work / "plain_unet__2d" / "fold_0"
    events = EventAccumulator(str(fold_folder / "tensorboard"), size_guidance={"tensors": 0, "images": 0}).Reload()
    with open(fold_folder / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == EPOCHS and all(float(row["memory_mb"]) > 0 for row in rows)
    for column in [name for name in rows[0] if name != "epoch"]:
        scalars = events.Scalars(column)
        assert [event.step for event in scalars] == list(range(EPOCHS)), column
        assert [event.value for event in scalars] == pytest.approx([float(row[column]) for row in rows], rel=1e-5)
    assert events.Scalars("validation_dice_ball")[0].value == pytest.approx(summary["mean"][1]["Dice"], rel=1e-5)
    params = b"".join(event.tensor_proto.string_val[0] for event in events.Tensors("params/text_summary")).decode()
    for row in ("| architecture.distribution | covplan |", "| loss.name | dice_ce |", "| plans.patch_size | [32, 32] |",
                f"| settings.num_epochs | {EPOCHS} |", "| fingerprint.cases | 6 |"):
        assert row in params
    assert events.Tensors("status/text_summary")[0].tensor_proto.string_val[0] == b"FINISHED"
    summary_text = events.Tensors("summary.json/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"foreground_mean"' in summary_text
    plot = events.Images("progress")[0]
    assert (plot.width, plot.height) == (800, 1000)  # progress.png: 8 x 10 inches at 100 dpi
