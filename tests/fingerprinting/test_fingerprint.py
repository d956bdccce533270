from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.fingerprinting import dataset_hash, verify_dataset
from tests.raw_datasets import write_raw_dataset


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


def test_dataset_hash_tells_datasets_apart(tmp_path: Path):
    first = write_raw_dataset(tmp_path / "a", num_cases=2, shape_zyx=(4, 8, 8))
    same = write_raw_dataset(tmp_path / "b", num_cases=2, shape_zyx=(4, 8, 8))
    assert dataset_hash(first) == dataset_hash(same)
    (same / "labelsTr" / "case_001.nii.gz").unlink()
    assert dataset_hash(first) != dataset_hash(same)
