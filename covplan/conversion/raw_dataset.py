"""A raw dataset in nnU-Net's layout (``dataset.json``, ``imagesTr/``, ``labelsTr/``, and
covplan's ``covplan_dataset.json`` when a converter wrote it), read once into one value that
planning passes on instead of returning to the folder for each fact it needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.json_files import read_json, read_json_if_present
from covplan.work_folder import COVPLAN_DATASET_JSON, DATASET_JSON

RAW_LAYOUT_FIX = "give a dataset in nnU-Net's raw layout (see `covplan convert`)"
# covplan_dataset.json: a case entry's mark of a pseudo-labelled case (`covplan pseudo-label`),
# which cross-validation trains on and never validates on; and the record of how they were made.
PSEUDO_LABELLED_KEY = "pseudo_labelled"
PSEUDO_LABELS_KEY = "pseudo_labels"


@dataclass(frozen=True)
class RawDataset:
    """What covplan reads of a raw dataset's description: ``dataset.json``, the training
    cases and the patient of each. The cases are listed on first use, after nnU-Net's
    integrity check has had its say about a damaged ``dataset.json``."""

    folder: Path
    dataset_json: dict[str, Any]
    covplan_dataset: dict[str, Any] | None

    @property
    def dataset_json_path(self) -> Path:
        return self.folder / DATASET_JSON

    @cached_property
    def case_ids(self) -> list[str]:
        """The training cases, as nnU-Net pairs images and labels."""
        from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

        return sorted(get_filenames_of_train_images_and_targets(str(self.folder), self.dataset_json))

    @cached_property
    def patients(self) -> dict[str, str]:
        """The patient id of each training case, from ``covplan_dataset.json``; without that
        file (plain nnU-Net raw data) or for a case it does not list, each case is its own
        patient."""
        return patients_of_cases(self.covplan_dataset, self.case_ids)

    @cached_property
    def pseudo_labelled_cases(self) -> list[str]:
        """The training cases ``covplan pseudo-label`` added: labels predicted, not drawn."""
        listed = (self.covplan_dataset or {}).get("cases", {})
        return [case for case in self.case_ids if listed.get(case, {}).get(PSEUDO_LABELLED_KEY)]

    @cached_property
    def cross_validated_patients(self) -> dict[str, str]:
        """:attr:`patients` of the cases with drawn labels: the only ones a validation fold
        may hold, so that cross-validation scores the models against truth."""
        pseudo_labelled = set(self.pseudo_labelled_cases)
        return {case: patient for case, patient in self.patients.items() if case not in pseudo_labelled}


def read_raw_dataset(folder: Path) -> RawDataset:
    """Read the description of the raw dataset in ``folder``; a folder without
    ``dataset.json`` is refused in one line."""
    folder = Path(folder)
    if not (folder / DATASET_JSON).is_file():
        raise CovplanError(f"{folder} has no {DATASET_JSON}; {RAW_LAYOUT_FIX}")
    return RawDataset(folder, read_json(folder / DATASET_JSON, RAW_LAYOUT_FIX),
                      read_json_if_present(folder / COVPLAN_DATASET_JSON,
                                           "rewrite it with `covplan convert` or remove it"))


def patients_of_cases(covplan_dataset: dict[str, Any] | None, case_ids: list[str]) -> dict[str, str]:
    """The patient id of each of ``case_ids`` that ``covplan_dataset`` (a
    ``covplan_dataset.json``, or None) lists; an unlisted case is its own patient."""
    listed = (covplan_dataset or {}).get("cases", {})
    return {case: str(listed.get(case, {}).get("patient_id", case)) for case in case_ids}
