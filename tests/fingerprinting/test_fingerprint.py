from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from nnunetv2.experiment_planning import verify_dataset_integrity

from covplan.errors import CovplanError
from covplan.fingerprinting import dataset_hash, verify_dataset
from covplan.fingerprinting.voxel_values import refuse_non_finite_voxels
from tests.raw_datasets import BALL, write_raw_dataset


def test_fingerprint_has_nnunet_schema_and_the_written_geometry(planned_3d: Path):
    # planned_3d's fingerprint is extract_fingerprint's (tests/planning compares it with nnunetv2's own).
    fingerprint = json.loads((planned_3d / "dataset_fingerprint.json").read_text())

    assert set(fingerprint) == {"spacings", "shapes_after_crop", "foreground_intensity_properties_per_channel",
                                "median_relative_size_after_cropping"}
    # SimpleITK spacing (x, y, z) becomes nnU-Net's array order (z, y, x); cases vary by 0/5/10 %.
    assert np.allclose(fingerprint["spacings"][0], [2.5, 0.8, 0.8])
    assert np.allclose(fingerprint["spacings"][1], [2.625, 0.84, 0.84])
    assert fingerprint["shapes_after_crop"] == [[24, 40, 32]] * 8
    statistics = fingerprint["foreground_intensity_properties_per_channel"]["0"]
    # Foreground = lung (-800 HU) and lesion (-100 HU) plus noise of std 20.
    assert -880 < statistics["percentile_00_5"] < -800 < statistics["mean"] < -100 < statistics["percentile_99_5"]


def test_integrity_failure_is_one_line_naming_the_dataset(raw_3d: Path, tmp_path: Path):
    broken = tmp_path / "Dataset503_Broken"
    shutil.copytree(raw_3d, broken)
    (broken / "labelsTr" / "case_003.nii.gz").unlink()

    with pytest.raises(CovplanError, match="integrity check") as raised:
        verify_dataset(broken, num_processes=1)
    assert str(broken) in str(raised.value) and "\n" not in str(raised.value)


def _with_voxel(image_file: Path, value: float) -> Path:
    image = sitk.ReadImage(str(image_file))
    voxels = sitk.GetArrayFromImage(image)
    voxels[1, 2, 3] = value
    changed = sitk.GetImageFromArray(voxels)
    changed.CopyInformation(image)
    sitk.WriteImage(changed, str(image_file))
    return image_file


def test_a_nan_voxel_is_refused_naming_the_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # nnU-Net's check passes this dataset (SimpleITK, its reader, reads a NIfTI's NaN as 0);
    # it is skipped here for the seconds its worker pool takes to start.
    monkeypatch.setattr(verify_dataset_integrity, "verify_dataset_integrity", lambda *args: None)
    dataset = write_raw_dataset(tmp_path / "Dataset504_NaN", num_cases=2, shape_zyx=(4, 8, 8), phantom=BALL)
    image_file = _with_voxel(dataset / "imagesTr" / "case_001_0000.nii.gz", np.nan)

    with pytest.raises(CovplanError) as raised:
        verify_dataset(dataset, num_processes=1)
    assert str(raised.value) == (f"{image_file}: 1 voxel(s) are NaN or infinite, which nnU-Net would read as 0; "
                                 "replace them with a value that means what they stand for (e.g. -1024, air in HU) "
                                 "and plan again")


@pytest.mark.parametrize("ending", [".nii.gz", ".mha"])
def test_infinite_voxels_are_refused_and_finite_floats_pass(tmp_path: Path, ending: str):
    dataset = write_raw_dataset(tmp_path / "Dataset505_Inf", num_cases=2, shape_zyx=(4, 8, 8), phantom=BALL)
    if ending == ".mha":
        for path in sorted(dataset.glob("*Tr/*.nii.gz")):
            sitk.WriteImage(sitk.ReadImage(str(path)), str(path).replace(".nii.gz", ending))
            path.unlink()
        dataset_json = json.loads((dataset / "dataset.json").read_text())
        (dataset / "dataset.json").write_text(json.dumps({**dataset_json, "file_ending": ending}))
    refuse_non_finite_voxels(dataset)
    _with_voxel(dataset / "imagesTr" / f"case_000_0000{ending}", -np.inf)
    with pytest.raises(CovplanError, match=rf"case_000_0000{ending}: 1 voxel\(s\) are NaN or infinite"):
        refuse_non_finite_voxels(dataset)


def test_dataset_hash_tells_datasets_apart(tmp_path: Path):
    first = write_raw_dataset(tmp_path / "a", num_cases=2, shape_zyx=(4, 8, 8))
    same = write_raw_dataset(tmp_path / "b", num_cases=2, shape_zyx=(4, 8, 8))
    assert dataset_hash(first) == dataset_hash(same)
    (same / "labelsTr" / "case_001.nii.gz").unlink()
    assert dataset_hash(first) != dataset_hash(same)
