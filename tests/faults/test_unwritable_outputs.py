"""The fault harness, part one (issue 29, items 10 and 11): each command that writes, run
with its output on a full disk and in a read-only folder. Every time the same three checks
(:func:`check_failed_cleanly`): one line on stderr naming the file and the fix, rc != 0;
nothing half-written left in the output area; the inputs byte-identical.

The commands run in-process (click's CliRunner) on the tiny data of tests/conftest.py; the
ones that need a trained model use the session's ``trained_models``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from covplan.cli import cli
from covplan.demo_data.layouts import write_demo_data
from tests.crafted_archives import write_crafted_archive
from tests.fault_mounts import BALLAST, fill_disk, half_written, one_line_error, tree_digest
from tests.image_files import LESION_TYPE_LABELS, write_json, write_nifti

# Cases whose evaluation summary outgrows a nearly full disk.
EVALUATED_CASES = 12
FIXES = ("no space left on its disk; free some space there or choose an output folder on another disk",
         "cannot write there (")


def run(*arguments: object) -> Result:
    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


def check_failed_cleanly(result: Result, area: Path, area_before: dict[str, str], inputs: list[Path],
                         inputs_before: list[dict[str, str]]) -> None:
    """rc != 0 and one line naming a file and the fix; nothing half-written in ``area``
    (the output area); every input byte-identical."""
    assert result.exit_code != 0
    assert one_line_error(result.output), result.output
    assert any(fix in result.output for fix in FIXES), result.output
    assert half_written(area, area_before) == []
    assert [tree_digest(path) for path in inputs] == inputs_before


def check_command(unwritable: Path, inputs: list[Path], *arguments: object) -> Result:
    before = [tree_digest(path) for path in inputs]
    area_before = tree_digest(unwritable)
    result = run(*arguments)
    check_failed_cleanly(result, unwritable, area_before, inputs, before)
    return result


def label_maps(folder: Path, cases: int) -> Path:
    label_map = np.zeros((4, 12, 12), np.uint8)
    label_map[1:3, 2:6, 2:6] = 1
    for case in range(cases):
        write_nifti(folder / f"c{case}.nii.gz", label_map)
    write_json(folder / "dataset.json", {"labels": LESION_TYPE_LABELS, "file_ending": ".nii.gz"})
    return folder


def test_report(unwritable_folder, tmp_path):
    predictions = label_maps(tmp_path / "pred", 1)  # report.html alone outgrows a nearly full disk
    check_command(unwritable_folder, [predictions], "report", predictions, "-o", unwritable_folder / "report")


def test_evaluate(unwritable_folder, tmp_path):
    predictions = label_maps(tmp_path / "pred", EVALUATED_CASES)
    check_command(unwritable_folder, [predictions], "evaluate", predictions, predictions, "-o",
                  unwritable_folder / "summary.json", "-j", "1", "--no-boundary")


def test_import(unwritable_folder, tmp_path):
    archive = write_crafted_archive(tmp_path / "model.zip", files={"plain_unet__3d_fullres/plans.json": b"{}" * 20000})
    check_command(unwritable_folder, [archive], "import", archive, unwritable_folder / "models")


def test_convert(unwritable_folder, tmp_path):
    source = write_demo_data(tmp_path / "source", "ct3d", num_cases=2, size=24)
    check_command(unwritable_folder, [source], "convert", "covid-ct-seg", source, unwritable_folder / "converted")


def test_predict(unwritable_folder, trained_models, sphere_input):
    # With the probabilities (.npz) the outputs outgrow a nearly full disk; the label map alone fits.
    check_command(unwritable_folder, [sphere_input[0], trained_models["3d"]], "predict", "-i", sphere_input[0],
                  "-o", unwritable_folder / "pred", "-m", trained_models["3d"], "-f", "0", "--no-tta", "--device",
                  "cpu", "--save-probabilities")


def test_export(unwritable_folder, trained_models):
    check_command(unwritable_folder, [trained_models["3d"]], "export", trained_models["3d"], "-f", "0", "-o",
                  unwritable_folder / "model.zip")


@pytest.mark.slow  # trains: a checkpoint must be saved for its write to fail (one epoch of two steps)
def test_train_on_a_full_disk_saves_no_half_checkpoint(small_disk, nnunet_work_root):
    work = Path(shutil.copytree(nnunet_work_root / "work3d", small_disk / "work"))
    fill_disk(small_disk)
    inputs = [path for path in work.iterdir() if path.name != "plain_unet__3d_fullres"]
    before = [tree_digest(path) for path in inputs]
    area_before = tree_digest(work / "plain_unet__3d_fullres")
    result = run("train", work, "--arch", "plain_unet", "--folds", "0", "--epochs", "1", "--iters-per-epoch", "2",
                 "--val-iters", "1", "--num-workers", "0", "--no-tta", "--no-evaluate")
    assert result.exit_code != 0 and one_line_error(result.output), result.output
    assert [tree_digest(path) for path in inputs] == before
    written = half_written(work / "plain_unet__3d_fullres", area_before)
    # Logs and the lock may be written whole before the disk fills; no checkpoint or temporary may.
    assert not [name for name in written if Path(name).name.startswith(".") or name.endswith(".pth")], written
    assert (small_disk / BALLAST).exists()


def test_train_in_a_read_only_work_folder(read_only, nnunet_work_root, tmp_path):
    work = Path(shutil.copytree(nnunet_work_root / "work3d", tmp_path / "work"))
    read_only(work)
    check_command(work, [work], "train", work, "--arch", "plain_unet", "--folds", "0", "--epochs", "1",
                  "--iters-per-epoch", "2", "--val-iters", "1", "--num-workers", "0")
