"""`covplan train-classifier`: writes a fold's slice classifier; a plugin without one and
an untrained fold are refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from covplan.cli import cli
from covplan.training.checkpoints import load_checkpoint


def test_writes_the_classifier_of_each_fold(classifier_work, tmp_path):
    work = Path(shutil.copytree(classifier_work, tmp_path / "work"))
    target = work / "coarse_refine__2d" / "fold_0" / "slice_classifier.pth"
    target.unlink()
    result = CliRunner().invoke(cli, ["train-classifier", str(work), "--folds", "0", "--iterations", "3",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"fold 0: slice classifier written to {target}" in result.output
    assert load_checkpoint(target)["iterations"] == 3


def test_refuses_an_architecture_without_a_classifier_and_an_untrained_fold(classifier_work):
    runner = CliRunner()
    result = runner.invoke(cli, ["train-classifier", str(classifier_work), "--folds", "0", "--arch", "plain_unet"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: architecture 'plain_unet' offers no slice classifier")
    result = runner.invoke(cli, ["train-classifier", str(classifier_work), "--folds", "2", "--device", "cpu"])
    assert result.exit_code == 1 and "fold_2/checkpoint_final.pth not found" in result.output
    assert "Traceback" not in result.output
