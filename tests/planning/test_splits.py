from __future__ import annotations


import pytest

from covplan.errors import CovplanError
from covplan.planning.splits import patient_grouped_splits, resolve_num_folds


def _cases(count: int) -> list[str]:
    return [f"case_{index:03d}" for index in range(count)]


def test_every_patient_lies_in_exactly_one_validation_fold():
    patients = {case: f"p{index // 3}" for index, case in enumerate(_cases(30))}  # 10 patients, 3 cases each

    splits = patient_grouped_splits(patients, num_folds=5, seed=1)

    assert len(splits) == 5
    validation_cases = [case for split in splits for case in split["val"]]
    assert sorted(validation_cases) == sorted(patients)
    for split in splits:
        assert set(split["train"]) | set(split["val"]) == set(patients)
        assert not set(split["train"]) & set(split["val"])
        validation_patients = {patients[case] for case in split["val"]}
        training_patients = {patients[case] for case in split["train"]}
        assert not validation_patients & training_patients
        assert len(split["val"]) == 6


def test_folds_are_balanced_with_uneven_patients_and_deterministic():
    sizes = [5, 1, 1, 2, 3, 1, 1, 4, 2, 1, 1, 2]
    patients = {}
    for patient, size in enumerate(sizes):
        for scan in range(size):
            patients[f"p{patient}_s{scan}"] = f"p{patient}"

    splits = patient_grouped_splits(patients, num_folds=4, seed=7)

    fold_sizes = sorted(len(split["val"]) for split in splits)
    assert sum(fold_sizes) == 24 and fold_sizes[-1] - fold_sizes[0] <= 1
    assert splits == patient_grouped_splits(dict(reversed(patients.items())), num_folds=4, seed=7)
    assert splits != patient_grouped_splits(patients, num_folds=4, seed=8)


def test_more_folds_than_patients_names_both_numbers():
    patients = {case: "p1" if index < 4 else "p2" for index, case in enumerate(_cases(6))}
    with pytest.raises(CovplanError, match="5 folds need at least 5 patients, but the dataset has 2 patients "
                                           r"\(6 cases\); use --num-folds 2 or fewer"):
        patient_grouped_splits(patients, num_folds=5)


def test_by_default_five_folds_or_one_per_patient_when_there_are_fewer():
    four_patients = {case: f"p{index % 4}" for index, case in enumerate(_cases(8))}
    assert resolve_num_folds(None, four_patients) == 4
    assert [len(split["val"]) for split in patient_grouped_splits(four_patients)] == [2, 2, 2, 2]
    assert resolve_num_folds(None, {case: case for case in _cases(7)}) == 5
    assert resolve_num_folds(3, four_patients) == 3
    with pytest.raises(CovplanError, match=r"at least 2 patients, but the dataset has 1 \(3 cases\)"):
        resolve_num_folds(None, {case: "p1" for case in _cases(3)})


def test_training_only_cases_are_in_every_training_split_and_no_validation_split():
    patients = {case: f"p{index // 2}" for index, case in enumerate(_cases(10))}
    pseudo_labelled = ["pseudo_a", "pseudo_b"]

    splits = patient_grouped_splits(patients, num_folds=5, seed=1, training_only=pseudo_labelled)

    assert splits == [{"train": sorted(set(split["train"]) | set(pseudo_labelled)), "val": split["val"]}
                      for split in patient_grouped_splits(patients, num_folds=5, seed=1)]
    assert not any(set(pseudo_labelled) & set(split["val"]) for split in splits)
