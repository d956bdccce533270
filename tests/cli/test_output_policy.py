"""The output-folder policy at every command that writes (issue 29, item 5 and the overlap
item; docs/cli.md, "Output folders"): an output overlapping an input is refused in one line
before any work, and --overwrite never deletes what a command reads or other data. Each
refusal comes before a model is loaded or a case read, so no test here trains."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.planning.plan import check_work_dir
from tests.crafted_archives import write_crafted_archive
from tests.fault_mounts import tree_digest
from tests.image_files import LESION_TYPE_LABELS, write_json, write_nifti

OVERLAP = r"^Error: output (folder|file) \S+ overlaps the input \S+ \(the same, inside or around it\); choose an " \
          r"output (folder|file) apart from the inputs, which covplan never modifies\n$"


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    """A prediction folder a report reads: one label map and its dataset.json."""
    folder = tmp_path / "pred"
    write_nifti(folder / "c1.nii.gz", np.ones((2, 4, 4), np.uint8))
    write_json(folder / "dataset.json", {"labels": LESION_TYPE_LABELS, "file_ending": ".nii.gz"})
    return folder


def invoke(*arguments: object):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


def test_report_into_its_own_predictions_with_overwrite_deletes_nothing(predictions):
    before = tree_digest(predictions)
    for output in (predictions, predictions / "report", predictions.parent):
        result = invoke("report", predictions, "-o", output, "--overwrite")
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and f"overlaps the input {predictions}" in result.output
    assert tree_digest(predictions) == before


def test_import_overwrite_keeps_a_folder_that_holds_other_data(tmp_path):
    archive = write_crafted_archive(tmp_path / "model.zip")
    target = tmp_path / "models"
    (target / "mine").mkdir(parents=True)
    (target / "mine" / "notes.txt").write_text("the user's")
    result = invoke("import", archive, target, "--overwrite")
    assert result.exit_code == 1
    assert result.output == (f"Error: {target} holds files `covplan import` did not write (mine/notes.txt); "
                             f"--overwrite replaces only a folder this command wrote: choose another output folder "
                             f"or remove {target} yourself\n")
    assert tree_digest(target) == {(target / "mine/notes.txt").as_posix(): hashlib.sha256(b"the user's").hexdigest()}
    # A folder an import wrote is replaced; the archive inside the target is an input.
    assert invoke("import", archive, tmp_path / "imported").exit_code == 0
    assert invoke("import", archive, tmp_path / "imported", "--overwrite").exit_code == 0
    inside = write_crafted_archive(tmp_path / "imported" / "again.zip")
    assert invoke("import", inside, tmp_path / "imported", "--overwrite").output.startswith("Error: output folder")


def test_predict_refuses_an_output_folder_overlapping_its_input_or_model(tmp_path):
    scans, model = tmp_path / "scans", tmp_path / "work" / "plain_unet__3d_fullres"
    write_nifti(scans / "c1_0000.nii.gz", np.zeros((2, 4, 4), np.float32))
    model.mkdir(parents=True)
    before = tree_digest(tmp_path)
    for output in (scans, scans / "out", tmp_path, model):
        result = invoke("predict", "-i", scans, "-o", output, "-m", model, "--overwrite")
        assert result.exit_code == 1 and re.match(OVERLAP, result.output), result.output
    assert tree_digest(tmp_path) == before


def test_ensemble_compare_export_and_evaluate_refuse_overlaps(tmp_path, predictions):
    other = tmp_path / "pred_b"
    other.mkdir()
    for arguments in (["ensemble", "-i", predictions, "-i", other, "-o", predictions],
                      ["compare", predictions, other, "--references", other, "-o", other / "compare"],
                      ["export", predictions, "-o", predictions / "model.zip"],
                      ["evaluate", other, predictions, "-o", other / "summary.json"]):
        result = invoke(*arguments)
        assert result.exit_code == 1 and re.match(OVERLAP, result.output), (arguments, result.output)
    result = invoke("evaluate", other, predictions, "-o", predictions / "c1.nii.gz")
    assert result.output == f"Error: {predictions / 'c1.nii.gz'}: the summary is JSON; give an output file named " \
                            f"NAME.json\n"


def test_plan_refuses_a_work_folder_inside_the_dataset(tmp_path):
    with pytest.raises(CovplanError, match="overlaps the input"):
        check_work_dir(tmp_path / "raw" / "work", tmp_path / "raw", "digest")


def test_plan_and_train_refuses_a_work_folder_inside_the_dataset_before_a_tracker_writes(tmp_path):
    dataset = tmp_path / "raw"
    dataset.mkdir()
    result = invoke("plan-and-train", dataset, "-o", dataset / "work", "--arch", "plain_unet", "--tracker",
                    "tensorboard")
    assert result.exit_code == 1 and re.match(OVERLAP, result.output), result.output
    assert list(dataset.iterdir()) == []
