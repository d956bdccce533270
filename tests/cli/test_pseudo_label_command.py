"""``covplan pseudo-label`` and ``plan-and-train --unlabelled``: bad inputs refused in one
line before any work."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from covplan.cli import cli
from covplan.conversion.raw_dataset import read_raw_dataset
from tests.raw_datasets import REGION_LABELS, write_raw_dataset


def _pseudo_label(*arguments: str):
    return CliRunner().invoke(cli, ["pseudo-label", *map(str, arguments)])


def test_bad_inputs_are_refused_in_one_line_before_any_prediction(raw_2d, tmp_path):
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(raw_2d / "imagesTr", unlabelled)
    model = tmp_path / "loose" / "plain_unet__2d"
    model.mkdir(parents=True)
    regions = write_raw_dataset(tmp_path / "Dataset504_Regions", num_cases=2, shape_zyx=(16, 16), regions=True)
    assert read_raw_dataset(regions).dataset_json["labels"] == REGION_LABELS
    refusals = {
        (model, unlabelled, raw_2d, tmp_path / "out"):
            f"Error: {model}: no splits_final.json beside it, so no cross-validation predictions to choose the "
            f"threshold on; give model folders inside the WORK folder they were trained in "
            f"(WORK/<arch>__<configuration>), trained with cross-validation folds\n",
        (model, unlabelled, raw_2d, raw_2d / "out"):
            f"Error: output folder {raw_2d / 'out'} overlaps the input {raw_2d} (the same, inside or around it); "
            f"choose an output folder apart from the inputs, which covplan never modifies\n",
        (model, unlabelled, regions, tmp_path / "out"):
            f"Error: {regions / 'dataset.json'}: region-based labels; pseudo-label keeps or ignores each voxel's one "
            f"label, so give a dataset of plain labels\n",
    }
    for (model_folder, images, dataset, output), message in refusals.items():
        result = _pseudo_label("-m", model_folder, "-i", images, "--dataset", dataset, "-o", output)
        assert (result.exit_code, result.output) == (1, message)
    result = _pseudo_label("-m", model, "-i", unlabelled, "--dataset", raw_2d, "-o", tmp_path / "out",
                           "--target-precision", "0")
    assert result.exit_code == 2 and "0<x<=1" in result.output
    assert not (tmp_path / "out").exists()


def test_plan_and_train_refuses_unlabelled_rounds_without_cross_validation_folds(raw_2d, tmp_path):
    result = CliRunner().invoke(cli, ["plan-and-train", str(raw_2d), "-o", str(tmp_path / "work"), "-f", "all",
                                      "--unlabelled", str(raw_2d / "imagesTr")])
    assert (result.exit_code, result.output) == (
        1, "Error: --unlabelled needs cross-validation folds (the threshold is chosen on their predictions); train "
           "numbered folds with --folds, not only fold all\n")
    assert not (tmp_path / "work").exists()
