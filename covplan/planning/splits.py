"""Cross-validation folds that keep every case of a patient in one fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from covplan.errors import CovplanError

DEFAULT_NUM_FOLDS = 5
# nnU-Net's seed for its default KFold split.
DEFAULT_SPLIT_SEED = 12345


def patients_of_cases(dataset_dir: Path, case_ids: list[str]) -> dict[str, str]:
    """The patient id of each training case, from ``covplan_dataset.json`` beside
    ``dataset.json``; without that file (plain nnU-Net raw data) or for a case it does not
    list, each case is its own patient."""
    covplan_dataset_file = dataset_dir / "covplan_dataset.json"
    listed: dict = {}
    if covplan_dataset_file.is_file():
        try:
            listed = json.loads(covplan_dataset_file.read_text()).get("cases", {})
        except json.JSONDecodeError as error:
            raise CovplanError(f"{covplan_dataset_file} is not valid JSON ({error}); rewrite it with "
                               f"`covplan convert` or remove it") from error
    return {case: str(listed.get(case, {}).get("patient_id", case)) for case in case_ids}


def patient_grouped_splits(case_patients: dict[str, str], num_folds: int = DEFAULT_NUM_FOLDS,
                           seed: int = DEFAULT_SPLIT_SEED) -> list[dict[str, list[str]]]:
    """``num_folds`` train/validation splits in nnU-Net's ``splits_final.json`` format.

    Patients are shuffled with ``seed``, then assigned largest first to the fold that has
    the fewest cases so far, so fold sizes differ by at most the largest patient's case
    count and no patient is split across folds. The same input always gives the same folds.
    """
    # Departs from nnU-Net's KFold over cases: slices or scans of one patient in both
    # the training and the validation split would leak the patient into validation.
    cases_by_patient: dict[str, list[str]] = {}
    for case, patient in sorted(case_patients.items()):
        cases_by_patient.setdefault(patient, []).append(case)
    if num_folds < 2:
        raise CovplanError(f"cross-validation needs at least 2 folds, got {num_folds}")
    if num_folds > len(cases_by_patient):
        raise CovplanError(f"{num_folds} folds need at least {num_folds} patients, but the dataset has "
                           f"{len(cases_by_patient)} patients ({len(case_patients)} cases); use --folds "
                           f"{len(cases_by_patient)} or fewer")
    patients = sorted(cases_by_patient)
    np.random.RandomState(seed).shuffle(patients)
    patients.sort(key=lambda patient: -len(cases_by_patient[patient]))  # stable: shuffled order within a size
    fold_cases: list[list[str]] = [[] for _ in range(num_folds)]
    for patient in patients:
        smallest_fold = min(range(num_folds), key=lambda fold: len(fold_cases[fold]))
        fold_cases[smallest_fold].extend(cases_by_patient[patient])
    return [{"train": sorted(set(case_patients) - set(val)), "val": sorted(val)} for val in fold_cases]
