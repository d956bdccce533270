"""A loss declares the dimensionalities it supports, as an architecture does: a
configuration of another is refused in one line before training (issue 29, item 3)."""

from __future__ import annotations

import covplan
import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from tests.fake_plugins import FakeLoss, Registers
from tests.work_folders import TINY_TRAINING


class SliceLoss(FakeLoss):
    """A loss for 2D slices only (as an SSIM over 2D windows)."""

    name = "slice_loss"
    dims = (2,)


def test_a_loss_supports_2d_and_3d_unless_it_says_otherwise():
    assert covplan.LossPlugin.dims == (2, 3)
    assert FakeLoss.dims == (2, 3)


def test_training_a_3d_configuration_with_a_2d_only_loss_is_refused_in_one_line(sphere_work, register_plugin):
    register_plugin(Registers(SliceLoss()), "slice-loss")
    settings = TrainingSettings(num_epochs=1, **{**TINY_TRAINING, "loss": "slice_loss"})
    with pytest.raises(CovplanError) as refusal:
        train_fold(sphere_work, "plain_unet", 0, settings=settings)
    assert str(refusal.value) == ("loss 'slice_loss' supports 2D configurations only, not 3d_fullres (3D); train "
                                  "the 2d configuration with it (-c 2d), or another loss (--loss dice_ce)")
    assert not (sphere_work / "plain_unet__3d_fullres" / "fold_0").exists()


def test_the_train_command_refuses_it_in_one_line(sphere_work, register_plugin):
    register_plugin(Registers(SliceLoss()), "slice-loss")
    result = CliRunner().invoke(cli, ["train", str(sphere_work), "-a", "plain_unet", "-f", "0", "--loss", "slice_loss",
                                      "--epochs", "1", "--num-workers", "0", "--device", "cpu"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: loss 'slice_loss' supports 2D configurations only, not 3d_fullres (3D); train the 2d configuration "
        "with it (-c 2d), or another loss (--loss dice_ce)"]
