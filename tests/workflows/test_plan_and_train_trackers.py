"""``plan-and-train`` with a tracker into a new WORK folder: the tracker's own folder,
made before planning, is no reason to refuse the folder (issue 29, item 1)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from covplan.cli import cli


@pytest.mark.slow
def test_a_first_run_with_the_tensorboard_tracker_plans_and_trains_into_its_new_folder(raw_2d, tmp_path):
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [
        "plan-and-train", str(raw_2d), "-o", str(work), "-a", "plain_unet", "-f", "0", "-j", "1", "--epochs", "1",
        "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta", "--no-evaluate",
        "--tracker", "tensorboard"])
    assert result.exit_code == 0, result.output
    assert (work / "plans_plain_unet.json").is_file()
    assert (work / "plain_unet__2d" / "fold_0" / "checkpoint_final.pth").is_file()
    assert any((work / "tensorboard").iterdir())
