"""``covplan tune`` searches only losses whose dimensionalities fit every configuration
it searches (issue 29, item 3)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from covplan.cli import cli
from tests.fake_plugins import FakeLoss, Registers

pytest.importorskip("optuna", reason="covplan tune needs optuna (pip install 'covplan[tune]')")


class SliceLoss(FakeLoss):
    """A loss for 2D slices only."""

    name = "slice_loss"
    dims = (2,)


@pytest.fixture
def searched(monkeypatch):
    """The study `covplan tune` would run, caught before any trial."""
    studies = []

    def catch(study, keep_models, launcher):
        studies.append(study)
        raise click.exceptions.Exit(0)

    monkeypatch.setattr("covplan.cli.tune_command.tune", catch)
    return studies


def test_a_3d_works_search_space_leaves_a_2d_only_loss_out(sphere_work, register_plugin, searched):
    register_plugin(Registers(SliceLoss()), "slice-loss")
    result = CliRunner().invoke(cli, ["tune", str(sphere_work), "-a", "plain_unet", "--trials", "1"])
    assert result.exit_code == 0, result.output
    (study,) = searched
    assert study.space.configurations == ("3d_fullres",)
    assert "dice_ce" in study.space.losses and "slice_loss" not in study.space.losses


def test_asking_for_a_loss_that_fits_no_searched_configuration_is_refused_in_one_line(sphere_work, register_plugin,
                                                                                    searched):
    register_plugin(Registers(SliceLoss()), "slice-loss")
    result = CliRunner().invoke(cli, ["tune", str(sphere_work), "-a", "plain_unet", "--loss", "dice_ce", "--loss",
                                      "slice_loss"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: loss 'slice_loss' supports 2D configurations only, but tune searches 3d_fullres (3D) in "
        f"{sphere_work}; leave --loss slice_loss out, or plan only configurations it supports"]
    assert searched == []
