"""The one writer of tiny raw datasets in nnU-Net's layout: a CT-like chest, or a bright
ball on noise (the phantoms of every planning, preprocessing and training test)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

LABELS = {"background": 0, "lung": 1, "lesion": 2}
# nnU-Net's region-based form of the same label maps: the lung region holds the lesion.
REGION_LABELS = {"background": 0, "lung": [1, 2], "lesion": 2}
REGIONS_CLASS_ORDER = [1, 2]
IGNORE_LABEL = 3
# Eight cases of six patients: two patients have two scans each (the raw_3d fixture).
PATIENTS = {"p1": [0, 1], "p2": [2, 3], "p3": [4], "p4": [5], "p5": [6], "p6": [7]}


def _chest_case(shape_zyx: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like image (air around a body, lungs inside, a denser lesion) and its labels."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
    radius = np.sqrt(sum(axis**2 for axis in grid[-2:]))
    image = np.full(shape_zyx, -1000.0)
    image[radius < 0.95] = 40.0
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    lung = radius < 0.6
    labels[lung] = 1
    image[lung] = -800.0
    lesion = np.sqrt(sum((axis - 0.2) ** 2 for axis in grid[-2:])) < 0.2
    labels[lesion] = 2
    image[lesion] = -100.0
    image += rng.normal(0, 20, shape_zyx)
    return image.astype(np.int16), labels


def _ball_case(shape_zyx: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise with one bright ball (a disc when the first axis has one slice); the label is the ball."""
    grid = np.indices(shape_zyx).astype(np.float32)
    centre = [s / 2 + rng.uniform(-s / 8, s / 8) if s > 1 else 0 for s in shape_zyx]
    radius = rng.uniform(5, 8)
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
    label = (distance <= radius).astype(np.uint8)
    image = (label * 2.0 + rng.normal(0, 0.4, shape_zyx)).astype(np.float32)
    return image, label


@dataclass(frozen=True)
class Phantom:
    """What the cases of a tiny dataset show."""

    labels: dict[str, Any]
    channel_name: str
    case_arrays: Callable[[tuple[int, ...], np.random.Generator], tuple[np.ndarray, np.ndarray]]
    spacing_varies: bool  # a little per case, so that the planner sees a spread


CHEST = Phantom(LABELS, "CT", _chest_case, spacing_varies=True)
BALL = Phantom({"background": 0, "ball": 1}, "MRI", _ball_case, spacing_varies=False)


def write_raw_dataset(dataset_dir: Path, num_cases: int = 8, shape_zyx: tuple[int, ...] = (24, 40, 32),
                      spacing_xyz: tuple[float, ...] = (0.8, 0.8, 2.5), patients: dict[str, list[int]] | None = None,
                      seed: int = 0, regions: bool = False, unlabelled_slices: bool = False,
                      phantom: Phantom = CHEST) -> Path:
    """Write ``num_cases`` cases of ``phantom`` (3D when ``shape_zyx`` has three axes, 2D for
    two) with ``dataset.json``; with ``patients`` (patient id -> case indices) also a
    ``covplan_dataset.json`` grouping the cases. The chest's spacing varies a little per case. With
    ``regions`` dataset.json names lung and lesion as nnU-Net regions; with
    ``unlabelled_slices`` every other axial slice of the labels is nnU-Net's ignore label
    (sparse annotations)."""
    rng = np.random.default_rng(seed)
    for folder in ("imagesTr", "labelsTr"):
        (dataset_dir / folder).mkdir(parents=True, exist_ok=True)
    case_ids = [f"case_{index:03d}" for index in range(num_cases)]
    for index, case_id in enumerate(case_ids):
        image, labels = phantom.case_arrays(shape_zyx, rng)
        if unlabelled_slices:
            labels[1::2] = IGNORE_LABEL
        spacing = [s * (1 + 0.05 * (index % 3)) if phantom.spacing_varies else s for s in spacing_xyz]
        for array, path in ((image, dataset_dir / "imagesTr" / f"{case_id}_0000.nii.gz"),
                            (labels, dataset_dir / "labelsTr" / f"{case_id}.nii.gz")):
            itk_image = sitk.GetImageFromArray(array)
            itk_image.SetSpacing(spacing)
            sitk.WriteImage(itk_image, str(path))
    labels_json: dict = dict(REGION_LABELS if regions else phantom.labels)
    if unlabelled_slices:
        labels_json["ignore"] = IGNORE_LABEL
    (dataset_dir / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": phantom.channel_name}, "labels": labels_json, "numTraining": num_cases, "file_ending": ".nii.gz",
        **({"regions_class_order": REGIONS_CLASS_ORDER} if regions else {}),
    }))
    if patients is not None:
        patient_of = {index: patient for patient, indices in patients.items() for index in indices}
        (dataset_dir / "covplan_dataset.json").write_text(json.dumps({
            "format_version": 1, "converter": "tests", "source_dir": str(dataset_dir), "intensity_domain": "hu",
            "cases": {case_id: {"patient_id": patient_of[index], "subset": "train", "source_files": {},
                                "source_domain": "hu", "intensity_transform": "none"}
                      for index, case_id in enumerate(case_ids)},
            "patients": {},
        }))
    return dataset_dir
