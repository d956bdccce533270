"""A raw dataset read once (covplan/conversion/raw_dataset.py): its description, cases and patients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covplan.conversion.raw_dataset import patients_of_cases, read_raw_dataset
from covplan.errors import CovplanError


def test_cases_and_patients_come_from_the_folder_once(raw_3d: Path, raw_2d: Path):
    dataset = read_raw_dataset(raw_3d)
    assert dataset.dataset_json_path == raw_3d / "dataset.json"
    assert dataset.case_ids == [f"case_{index:03d}" for index in range(8)]
    # The fixture's covplan_dataset.json puts cases 0, 1 with p1 and 2, 3 with p2.
    assert dataset.patients["case_000"] == dataset.patients["case_001"] != dataset.patients["case_002"]
    assert len(set(dataset.patients.values())) == 6
    plain = read_raw_dataset(raw_2d)  # no covplan_dataset.json: every case is its own patient
    assert plain.covplan_dataset is None and plain.patients == {case: case for case in plain.case_ids}


def test_patient_ids_come_from_covplan_dataset_json():
    described = {"format_version": 1, "cases": {"case_000": {"patient_id": "anna"}, "case_001": {"patient_id": "anna"}}}
    cases = ["case_000", "case_001", "case_002"]
    assert patients_of_cases(described, cases) == {"case_000": "anna", "case_001": "anna", "case_002": "case_002"}
    assert patients_of_cases(None, cases[:2]) == {"case_000": "case_000", "case_001": "case_001"}


def test_a_folder_without_dataset_json_is_refused_in_one_line(tmp_path: Path):
    with pytest.raises(CovplanError, match=r"has no dataset.json; give a dataset in nnU-Net's raw layout"):
        read_raw_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{ not json")
    with pytest.raises(CovplanError, match="dataset.json"):
        read_raw_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0}}))
    assert read_raw_dataset(tmp_path).dataset_json == {"labels": {"background": 0}}
