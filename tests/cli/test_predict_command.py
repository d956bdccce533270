"""covplan predict on the command line: outputs, the count printed, and one error line
listing the cases it could not predict."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from covplan.cli import cli
from tests.dicom_files import write_ct_series
from tests.input_images import write_disc_png, write_sphere_volume


def test_predict_writes_the_cases_and_names_the_bad_ones(trained_models, tmp_path):
    write_sphere_volume(tmp_path / "in" / "ball.nii.gz")
    write_disc_png(tmp_path / "in" / "flat.png")
    result = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "-m", str(trained_models["3d"]), "--folds", "0", "--no-tta", "--device", "cpu"])
    assert result.exit_code == 1
    assert "1 case(s) written to" in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "1 case(s) not predicted: flat: " in error_lines[0]
    assert "is 3D (3d_fullres); use a 2D model for slices" in error_lines[0]
    assert "Traceback" not in result.output
    assert (tmp_path / "out" / "ball.nii.gz").is_file()
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {"background": 0, "ball": 1}


def test_a_png_slice_with_a_2d_model_and_a_png_dataset_json(trained_models, tmp_path):
    write_disc_png(tmp_path / "disc.png")
    result = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "disc.png"), "-o", str(tmp_path / "out"),
                                      "-m", str(trained_models["2d"]), "--no-tta"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "disc.png").is_file()
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["file_ending"] == ".png"


def test_a_missing_model_folder_is_refused_by_click(tmp_path):
    result = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path), "-o", str(tmp_path / "out"),
                                      "-m", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_png_into_a_3d_model_is_one_error_line_and_leaves_no_output_folder(trained_models, tmp_path):
    write_disc_png(tmp_path / "flat.png")
    result = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "flat.png"), "-o", str(tmp_path / "out"),
                                      "-m", str(trained_models["3d"]), "--folds", "0", "--no-tta", "--device", "cpu"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("Error: 1 case(s) not predicted: flat: ")
    assert "is 3D (3d_fullres); use a 2D model for slices" in result.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_dicom_series_and_dicom_seg_for_a_nifti_are_one_error_line_each(trained_models, tmp_path):
    uid = write_ct_series(tmp_path / "study", np.full((3, 4, 5), -800, np.int16), (0.8, 0.8, 2.0))
    write_sphere_volume(tmp_path / "ball.nii.gz")
    model = ["-m", str(trained_models["3d"]), "--folds", "0", "--no-tta", "--device", "cpu"]
    unknown = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "study"), "-o", str(tmp_path / "out"),
                                       "--series", "1.2.3", *model])
    assert unknown.exit_code == 1 and unknown.output.strip().splitlines() == [
        f"Error: {tmp_path / 'study'}: no DICOM series 1.2.3; found {uid} (give one of them, or leave out --series)"]
    nifti = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "ball.nii.gz"), "-o", str(tmp_path / "out"),
                                     "--output-format", "dicom-seg", *model])
    assert nifti.exit_code == 1 and len(nifti.output.strip().splitlines()) == 1
    assert "--output-format dicom-seg needs a DICOM series as input" in nifti.output
    assert not (tmp_path / "out").exists()
