"""Cross-validation folds that keep every case of a patient in one fold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from covplan.errors import CovplanError

DEFAULT_NUM_FOLDS = 5
# nnU-Net's seed for its default KFold split.
DEFAULT_SPLIT_SEED = 12345


def resolve_num_folds(num_folds: int | None, case_patients: dict[str, str]) -> int:
    """The number of folds to plan: ``num_folds``, or by default nnU-Net's 5 when the
    dataset has as many patients, else one fold per patient. A count the patients cannot
    fill is refused, naming the option that sets it."""
    num_patients = len(set(case_patients.values()))
    if num_folds is None:
        if num_patients < 2:
            raise CovplanError(f"cross-validation needs at least 2 patients, but the dataset has {num_patients} "
                               f"({len(case_patients)} cases); add patients")
        return min(DEFAULT_NUM_FOLDS, num_patients)
    if num_folds < 2:
        raise CovplanError(f"cross-validation needs at least 2 folds, got {num_folds}; use --num-folds 2 or more")
    if num_folds > num_patients:
        raise CovplanError(f"{num_folds} folds need at least {num_folds} patients, but the dataset has "
                           f"{num_patients} patients ({len(case_patients)} cases); use --num-folds "
                           f"{num_patients} or fewer")
    return num_folds


def patient_grouped_splits(case_patients: dict[str, str], num_folds: int | None = None,
                           seed: int = DEFAULT_SPLIT_SEED, training_only: Sequence[str] = ()
                           ) -> list[dict[str, list[str]]]:
    """Train/validation splits in nnU-Net's ``splits_final.json`` format, as many as
    :func:`resolve_num_folds` says. The cases of ``training_only`` (pseudo-labelled ones,
    not in ``case_patients``) are in every fold's training split and in no validation
    split: a validation fold scores against drawn labels only.

    Patients are shuffled with ``seed``, then assigned largest first to the fold that has
    the fewest cases so far, so fold sizes differ by at most the largest patient's case
    count and no patient is split across folds. The same input always gives the same folds.
    """
    # Departs from nnU-Net's KFold over cases: slices or scans of one patient in both
    # the training and the validation split would leak the patient into validation.
    cases_by_patient: dict[str, list[str]] = {}
    for case, patient in sorted(case_patients.items()):
        cases_by_patient.setdefault(patient, []).append(case)
    num_folds = resolve_num_folds(num_folds, case_patients)
    patients = sorted(cases_by_patient)
    np.random.RandomState(seed).shuffle(patients)
    patients.sort(key=lambda patient: -len(cases_by_patient[patient]))  # stable: shuffled order within a size
    fold_cases: list[list[str]] = [[] for _ in range(num_folds)]
    for patient in patients:
        smallest_fold = min(range(num_folds), key=lambda fold: len(fold_cases[fold]))
        fold_cases[smallest_fold].extend(cases_by_patient[patient])
    return [{"train": sorted((set(case_patients) - set(val)) | set(training_only)), "val": sorted(val)}
            for val in fold_cases]
