"""The files of a pseudo-labelled raw dataset: the labelled dataset's cases copied, each
pseudo-labelled case's channels and label map as NIfTI on its own grid, ``dataset.json``
with the ignore label, and ``covplan_dataset.json`` saying which cases are
pseudo-labelled and how (:data:`covplan.conversion.raw_dataset.PSEUDO_LABELLED_KEY`,
which planning reads to keep them out of validation)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from covplan.atomic import write_json_atomic
from covplan.conversion.raw_dataset import PSEUDO_LABELLED_KEY, PSEUDO_LABELS_KEY, RawDataset
from covplan.conversion.unlabelled import with_ignore_label
from covplan.inference.inputs import CaseImage
from covplan.inference.outputs import image_on_input_grid, write_nifti
from covplan.work_folder import COVPLAN_DATASET_JSON, DATASET_JSON

NIFTI_ENDING = ".nii.gz"
FORMAT_VERSION = 1


def copy_labelled_cases(dataset: RawDataset, staging: Path) -> None:
    """The labelled dataset's training images and labels, copied (never linked: the new
    dataset may be changed or deleted without touching them)."""
    for folder in ("imagesTr", "labelsTr"):
        shutil.copytree(dataset.folder / folder, staging / folder)


def write_pseudo_case(staging: Path, case_id: str, image: CaseImage, labels: np.ndarray) -> None:
    """Each channel of ``image`` and ``labels`` (z, y, x) on the image's own grid."""
    for channel, data in enumerate(image.data):
        write_nifti(image_on_input_grid(data, image.properties),
                    staging / "imagesTr" / f"{case_id}_{channel:04d}{NIFTI_ENDING}")
    write_nifti(image_on_input_grid(labels.astype(np.uint8), image.properties),
                staging / "labelsTr" / f"{case_id}{NIFTI_ENDING}")


def pseudo_labelled_labels(dataset: RawDataset) -> dict[str, int]:
    """The labelled dataset's labels with nnU-Net's ignore label (its own, or a new one
    after the highest label)."""
    return with_ignore_label(dataset.dataset_json["labels"])


def write_descriptions(staging: Path, dataset: RawDataset, pseudo_cases: dict[str, dict[str, Any]],
                       provenance: dict[str, Any]) -> None:
    """``dataset.json`` (the labelled one's, with the ignore label and the new case count)
    and ``covplan_dataset.json`` (the labelled one's, or a new one, with every
    pseudo-labelled case marked and ``provenance`` under :data:`PSEUDO_LABELS_KEY`)."""
    dataset_json = {**dataset.dataset_json, "labels": pseudo_labelled_labels(dataset),
                    "numTraining": len(dataset.case_ids) + len(pseudo_cases)}
    write_json_atomic(staging / DATASET_JSON, dataset_json)
    document = dict(dataset.covplan_dataset or {"format_version": FORMAT_VERSION, "converter": "pseudo-label",
                                                "intensity_domain": None, "patients": {}})
    cases = dict(document.get("cases", {}))
    for case_id, entry in pseudo_cases.items():
        cases[case_id] = {"patient_id": case_id, "subset": "train", PSEUDO_LABELLED_KEY: True, **entry}
    document["cases"] = cases
    document[PSEUDO_LABELS_KEY] = provenance
    write_json_atomic(staging / COVPLAN_DATASET_JSON, document)
