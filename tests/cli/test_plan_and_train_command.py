"""``covplan plan-and-train``: a raw dataset in, trained folds and the CV table out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from covplan.cli import cli
from covplan.training.checkpoints import load_checkpoint


def test_plans_preprocesses_trains_two_folds_and_prints_the_table(raw_2d, tmp_path):
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [
        "plan-and-train", str(raw_2d), "-o", str(work), "--arch", "plain_unet", "--folds", "0,1", "-j", "1",
        "--epochs", "1", "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta"])
    assert result.exit_code == 0, result.output
    model_folder = work / "plain_unet__2d"
    assert load_checkpoint(model_folder / "fold_1" / "checkpoint_final.pth")["init_args"]["plans"] == \
        json.loads((work / "plans_plain_unet.json").read_text())
    cv_summary = json.loads((model_folder / "cv_summary.json").read_text())
    assert list(cv_summary["folds"]) == ["0", "1"]
    lines = result.stdout.splitlines()
    assert lines[-5] == "plain_unet__2d:"
    assert lines[-4].split() == ["fold", "Dice", "lung", "Dice", "lesion", "minutes", "used", "/", "budget"]
    assert [line.split()[0] for line in lines[-3:]] == ["0", "1", "mean"]
    lung_mean = cv_summary["mean"]["lung"]
    assert lines[-1].split()[:2] == ["mean", "-" if lung_mean is None else f"{lung_mean:.4f}"]
