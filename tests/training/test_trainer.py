"""The trainer on tiny nnU-Net-preprocessed data: it learns, and writes checkpoints, logs,
the plot and the fold's evaluation."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from covplan import __version__
from covplan.architectures.base import get_architecture
from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from covplan.training.checkpoints import load_checkpoint
from covplan.training.trainer import Trainer
from covplan.training.inputs import load_training_inputs
from tests.fake_plugins import FakeLoss, Registers
from tests.paths import REPO_ROOT
from tests.work_folders import TINY_TRAINING, TRAINED_EPOCHS

EPOCHS = TRAINED_EPOCHS
TINY = TINY_TRAINING


def test_learns_the_spheres(trained_fold):
    fold_folder, summary = trained_fold
    assert summary["mean"][1]["Dice"] > 0.8
    written = json.loads((fold_folder / "validation" / "summary.json").read_text())
    assert written["mean"]["1"]["Dice"] == pytest.approx(summary["mean"][1]["Dice"])
    assert sorted(case["prediction_file"].rsplit("/", 1)[1] for case in written["metric_per_case"]) == \
        ["case_003.nii.gz", "case_005.nii.gz"]  # fold 0's validation cases
    assert sorted(p.name for p in (fold_folder / "validation").iterdir()) == \
        ["case_003.nii.gz", "case_005.nii.gz", "summary.json"]


def test_summary_has_rates_from_the_counts(trained_fold):
    fold_folder, _ = trained_fold
    written = json.loads((fold_folder / "validation" / "summary.json").read_text())
    for case in written["metric_per_case"]:
        metrics = case["metrics"]["1"]
        assert metrics["Sensitivity"] == pytest.approx(metrics["TP"] / (metrics["TP"] + metrics["FN"]))
        assert metrics["Specificity"] == pytest.approx(metrics["TN"] / (metrics["TN"] + metrics["FP"]))
        assert metrics["Precision"] == pytest.approx(metrics["TP"] / (metrics["TP"] + metrics["FP"]))


def test_checkpoints_carry_what_resuming_and_predicting_need(trained_fold, nnunet_work_root):
    fold_folder, _ = trained_fold
    work = fold_folder.parent.parent
    checkpoint = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert checkpoint["epoch"] == EPOCHS
    assert checkpoint["architecture"] == {"name": "plain_unet", "distribution": "covplan", "version": __version__}
    assert checkpoint["loss"]["name"] == "dice_ce"
    assert checkpoint["init_args"]["plans"] == json.loads((work / "plans_plain_unet.json").read_text())
    assert checkpoint["init_args"]["configuration"] == "3d_fullres"
    assert checkpoint["dataset_fingerprint"] == json.loads((work / "dataset_fingerprint.json").read_text())
    assert checkpoint["optimizer_state"]["state"]  # SGD momentum buffers
    assert checkpoint["lr_scheduler_state"]["ctr"] == EPOCHS + 1  # PolyLR steps once on creation
    assert set(checkpoint["rng_state"]) == {"python", "numpy", "torch", "cuda"}
    assert len(checkpoint["history"]) == EPOCHS
    latest = load_checkpoint(fold_folder / "checkpoint_latest.pth")
    for name, tensor in checkpoint["network_weights"].items():
        assert torch.equal(tensor, latest["network_weights"][name])
    best = load_checkpoint(fold_folder / "checkpoint_best.pth")
    emas = [row["ema_dice"] for row in checkpoint["history"]]
    assert best["epoch"] == emas.index(max(emas)) + 1
    model_folder = fold_folder.parent
    for name in ("dataset.json", "dataset_fingerprint.json"):
        assert json.loads((model_folder / name).read_text()) == json.loads((work / name).read_text())
    assert json.loads((model_folder / "plans.json").read_text()) == checkpoint["init_args"]["plans"]


def test_training_log_and_plot(trained_fold):
    fold_folder, _ = trained_fold
    with open(fold_folder / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "dice_ball", "ema_dice", "lr", "iterations",
                             "epoch_time_s", "memory_mb", "elapsed_s"]
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    # nnU-Net's polynomial schedule, read at the start of each epoch
    for epoch, row in enumerate(rows):
        assert float(row["lr"]) == pytest.approx(1e-2 * (1 - epoch / EPOCHS) ** 0.9)
        assert 0 <= float(row["dice_ball"]) <= 1 and float(row["epoch_time_s"]) > 0
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    ema = float(rows[0]["dice_ball"])
    for row in rows[1:]:
        ema = 0.9 * ema + 0.1 * float(row["dice_ball"])
        assert float(row["ema_dice"]) == pytest.approx(ema)
    assert (fold_folder / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_trains_2d_with_rotations_and_flips_on_every_case_in_background_workers(disc_work):
    settings = TrainingSettings(num_epochs=1, augmentation="rot_flip", **{**TINY, "num_workers": 1})
    summary = train_fold(disc_work, "plain_unet", "all", settings=settings)
    assert len(summary["metric_per_case"]) == 6  # fold 'all' validates on every case
    with open(disc_work / "plain_unet__2d" / "fold_all" / "training_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 1


@pytest.mark.slow
def test_early_stopping_when_the_recipe_asks(sphere_work, register_plugin):
    from covplan.architectures.plain_unet import PlainUNet

    class Impatient(PlainUNet):
        """plain_unet that stops after one epoch without a better validation loss."""

        name = "impatient_unet"
        early_stopping_patience = 1

    register_plugin(Registers(Impatient()), "impatient")
    shutil.copy(sphere_work / "plans_plain_unet.json", sphere_work / "plans_impatient_unet.json")
    settings = TrainingSettings(num_epochs=30, initial_lr=1e-6, evaluate=False, **{**TINY, "iterations_per_epoch": 2})
    train_fold(sphere_work, "impatient_unet", 0, settings=settings)
    with open(sphere_work / "impatient_unet__3d_fullres" / "fold_0" / "training_log.csv") as handle:
        losses = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    assert len(losses) < 30
    assert all(later < earlier for earlier, later in zip(losses[:-2], losses[1:-1]))
    assert losses[-1] >= min(losses[:-1])


def test_a_loss_that_does_not_fit_the_architecture_is_refused(sphere_work, register_plugin):
    register_plugin(Registers(FakeLoss()), "fake-loss")
    inputs = load_training_inputs(sphere_work, "plain_unet")
    with pytest.raises(CovplanError, match="loss 'fake_loss' cannot train architecture 'plain_unet'.*'dice_ce'"):
        Trainer(inputs, 0, TrainingSettings(loss="fake_loss", num_workers=0))


def test_unknown_loss_lists_the_known_ones(sphere_work):
    with pytest.raises(CovplanError, match="unknown loss 'nope'; known: .*dice_ce"):
        train_fold(sphere_work, "plain_unet", 0, settings=TrainingSettings(loss="nope", num_workers=0))


@pytest.mark.slow
def test_a_third_party_architecture_and_loss_train_unchanged(disc_work, register_plugin, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "docs" / "examples" / "covplan-example-net"))
    import covplan_example_net

    register_plugin(covplan_example_net, "example-net")
    shutil.copy(disc_work / "plans_plain_unet.json", disc_work / "plans_example_net.json")
    summary = train_fold(disc_work, "example_net", 0, settings=TrainingSettings(num_epochs=1, **TINY))
    checkpoint = load_checkpoint(disc_work / "example_net__2d" / "fold_0" / "checkpoint_final.pth")
    assert checkpoint["loss"]["name"] == "example_ce"  # the plugin's default loss
    assert checkpoint["architecture"]["distribution"] == "<in-process example-net>"
    # One epoch of ten steps separates the bright disc from the noise: a network that
    # learned nothing scores 0 (all background) or about 0.2 (all disc); this one 0.89.
    assert summary["mean"][1]["Dice"] > 0.7
    predicted = {Path(case["prediction_file"]).name for case in summary["metric_per_case"]}
    assert predicted == {path.name for path in (disc_work / "example_net__2d" / "fold_0" / "validation").glob("*.nii.gz")}


@pytest.mark.slow
@pytest.mark.parametrize("architecture, loss, work, n_conv", [
    ("plain_unet", "tversky_ce", "work3d", 1),
    ("resenc_unet", None, "work3d", 1),
    ("qchc_unet", None, "work3d", 2),  # a quick connection spans at least two convolutions
    ("coarse_refine", None, "work2d", 1),
])
def test_every_built_in_architecture_and_loss_trains(architecture, loss, work, n_conv, nnunet_work_root, tmp_path):
    work = Path(shutil.copytree(nnunet_work_root / work, tmp_path / "work"))
    plans = json.loads((work / "plans_plain_unet.json").read_text())
    plans["covplan"]["architecture"] = architecture
    for plan in plans["configurations"].values():
        stages = plan["architecture"]["arch_kwargs"]["n_stages"]
        plan["architecture"]["arch_kwargs"].update(n_conv_per_stage=[n_conv] * stages,
                                                   n_conv_per_stage_decoder=[n_conv] * (stages - 1))
    (work / f"plans_{architecture}.json").write_text(json.dumps(plans))
    settings = TrainingSettings(num_epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0,
                                loss=loss, evaluate=False)
    train_fold(work, architecture, 0, settings=settings)
    fold_folder = next(work.glob(f"{architecture}__*/fold_0"))
    checkpoint = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert checkpoint["architecture"]["name"] == architecture
    assert checkpoint["loss"]["name"] == (loss or get_architecture(architecture).default_loss)
    assert math.isfinite(checkpoint["history"][0]["train_loss"])
