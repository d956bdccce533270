"""covplan ensemble on hand-made probability folders: the mean's arg-max, on the saved grid
and in the saved format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner
from PIL import Image

from covplan.cli import cli
from covplan.inference.outputs import write_probabilities

LABELS = {"background": 0, "lung": 1, "infection": 2}
VOLUME = {"sitk_stuff": {"spacing": (0.5, 0.7, 2.0), "origin": (1.0, 2.0, 3.0),
                         "direction": (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)}, "spacing": [2.0, 0.7, 0.5]}
SLICE = {"sitk_stuff": {"spacing": (1.0, 1.0), "origin": (0.0, 0.0), "direction": (1.0, 0.0, 0.0, 1.0)},
         "spacing": [999.0, 1.0, 1.0]}


def member(folder, values_by_case):
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps({"labels": LABELS, "file_ending": ".nii.gz"}))
    for case, (probabilities, properties, output_format) in values_by_case.items():
        write_probabilities(np.asarray(probabilities, np.float32), properties, folder, case, output_format)


def test_ensemble_averages_the_members(tmp_path):
    # One voxel row of three: member a says 0, 1, 2; member b says 0, 2, 2 more strongly.
    a = [[[[0.8, 0.1, 0.1]]], [[[0.1, 0.8, 0.2]]], [[[0.1, 0.1, 0.7]]]]
    b = [[[[0.6, 0.0, 0.0]]], [[[0.2, 0.1, 0.1]]], [[[0.2, 0.9, 0.9]]]]
    slice_a = [[[[0.9, 0.2]]], [[[0.05, 0.7]]], [[[0.05, 0.1]]]]
    member(tmp_path / "a", {"vol": (a, VOLUME, "nifti"), "sl": (slice_a, SLICE, "png")})
    member(tmp_path / "b", {"vol": (b, VOLUME, "nifti"), "sl": (slice_a, SLICE, "png")})
    result = CliRunner().invoke(cli, ["ensemble", "-i", str(tmp_path / "a"), "-i", str(tmp_path / "b"),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "2 case(s) written" in result.output
    volume = sitk.ReadImage(str(tmp_path / "out" / "vol.nii.gz"))
    assert sitk.GetArrayFromImage(volume).tolist() == [[[0, 2, 2]]]
    assert volume.GetSpacing() == pytest.approx((0.5, 0.7, 2.0))  # NIfTI stores float32
    assert volume.GetDirection() == VOLUME["sitk_stuff"]["direction"]
    assert np.asarray(Image.open(tmp_path / "out" / "sl.png")).tolist() == [[0, 1]]


def test_ensemble_names_a_folder_that_lacks_a_case(tmp_path):
    probabilities = [[[[1.0]]], [[[0.0]]], [[[0.0]]]]
    member(tmp_path / "a", {"x": (probabilities, VOLUME, "nifti"), "y": (probabilities, VOLUME, "nifti")})
    member(tmp_path / "b", {"x": (probabilities, VOLUME, "nifti")})
    result = CliRunner().invoke(cli, ["ensemble", "-i", str(tmp_path / "a"), "-i", str(tmp_path / "b"),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'b'}: no probabilities for y; predict them with --save-probabilities" in result.output
    assert not (tmp_path / "out").exists()


def test_a_case_whose_properties_were_never_written_is_missing_not_a_traceback(tmp_path):
    # predict killed between writing <case>.npz and <case>.pkl
    probabilities = [[[[1.0]]], [[[0.0]]], [[[0.0]]]]
    member(tmp_path / "a", {"x": (probabilities, VOLUME, "nifti"), "y": (probabilities, VOLUME, "nifti")})
    member(tmp_path / "b", {"x": (probabilities, VOLUME, "nifti"), "y": (probabilities, VOLUME, "nifti")})
    (tmp_path / "b" / "y.pkl").unlink()
    result = CliRunner().invoke(cli, ["ensemble", "-i", str(tmp_path / "a"), "-i", str(tmp_path / "b"),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'b'}: no probabilities for y; predict them with --save-probabilities" in result.output


def test_ensemble_refuses_probabilities_of_other_shapes(tmp_path):
    member(tmp_path / "a", {"x": ([[[[1.0]]], [[[0.0]]], [[[0.0]]]], VOLUME, "nifti")})
    member(tmp_path / "b", {"x": ([[[[1.0, 1.0]]], [[[0.0, 0.0]]], [[[0.0, 0.0]]]], VOLUME, "nifti")})
    result = CliRunner().invoke(cli, ["ensemble", "-i", str(tmp_path / "a"), "-i", str(tmp_path / "b"),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: x.npz differs in shape between the folders" in result.output
    assert not (tmp_path / "out" / "x.nii.gz").exists()
