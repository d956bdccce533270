"""A training case with more or fewer channel files than dataset.json names is refused in one
line naming the file and both counts (nnunetv2 says "check text output above")."""

from __future__ import annotations

import json
import shutil

import pytest

from covplan.errors import CovplanError
from covplan.fingerprinting.fingerprint import verify_dataset
from tests.raw_datasets import write_raw_dataset


@pytest.mark.parametrize("channel_names, extra_file, message", [
    ({"0": "CT", "1": "PET"}, False,
     r"case_000_0000.nii.gz: case case_000 has 1 channel file\(s\) \(case_000_0000.nii.gz\), but .*dataset.json "
     r"names 2 channel\(s\) \(CT, PET\); give each case one file per channel \(case_000_0000.nii.gz to "
     r"case_000_0001.nii.gz\) or correct channel_names$"),
    ({"0": "CT"}, True,
     r"case_000_0000.nii.gz: case case_000 has 2 channel file\(s\) \(case_000_0000.nii.gz, case_000_0001.nii.gz\), "
     r"but .*dataset.json names 1 channel\(s\) \(CT\); give each case one file per channel "
     r"\(case_000_0000.nii.gz\) or correct channel_names$")])
def test_a_wrong_channel_count_names_the_file_and_both_counts(tmp_path, channel_names, extra_file, message):
    dataset = write_raw_dataset(tmp_path / "raw", num_cases=2, shape_zyx=(4, 8, 8))
    description = json.loads((dataset / "dataset.json").read_text())
    (dataset / "dataset.json").write_text(json.dumps({**description, "channel_names": channel_names}))
    if extra_file:
        shutil.copy(dataset / "imagesTr" / "case_000_0000.nii.gz", dataset / "imagesTr" / "case_000_0001.nii.gz")
    with pytest.raises(CovplanError, match=message):
        verify_dataset(dataset, 1)
