"""Tiny raw datasets in nnU-Net's layout, written with SimpleITK, and session fixtures that
build them once for the planning, preprocessing and CLI tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

LABELS = {"background": 0, "lung": 1, "lesion": 2}
# nnU-Net's region-based form of the same label maps: the lung region holds the lesion.
REGION_LABELS = {"background": 0, "lung": [1, 2], "lesion": 2}
REGIONS_CLASS_ORDER = [1, 2]
IGNORE_LABEL = 3


def _case_arrays(shape_zyx: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


def write_raw_dataset(dataset_dir: Path, num_cases: int = 8, shape_zyx: tuple[int, ...] = (24, 40, 32),
                      spacing_xyz: tuple[float, ...] = (0.8, 0.8, 2.5), patients: dict[str, list[int]] | None = None,
                      seed: int = 0, regions: bool = False, unlabelled_slices: bool = False) -> Path:
    """Write ``num_cases`` cases (3D when ``shape_zyx`` has three axes, 2D for two) with
    ``dataset.json``; with ``patients`` (patient id -> case indices) also a
    ``covplan_dataset.json`` grouping the cases. Spacing varies a little per case. With
    ``regions`` dataset.json names lung and lesion as nnU-Net regions; with
    ``unlabelled_slices`` every other axial slice of the labels is nnU-Net's ignore label
    (sparse annotations)."""
    rng = np.random.default_rng(seed)
    for folder in ("imagesTr", "labelsTr"):
        (dataset_dir / folder).mkdir(parents=True, exist_ok=True)
    case_ids = [f"case_{index:03d}" for index in range(num_cases)]
    for index, case_id in enumerate(case_ids):
        image, labels = _case_arrays(shape_zyx, rng)
        if unlabelled_slices:
            labels[1::2] = IGNORE_LABEL
        spacing = [s * (1 + 0.05 * (index % 3)) for s in spacing_xyz]
        for array, path in ((image, dataset_dir / "imagesTr" / f"{case_id}_0000.nii.gz"),
                            (labels, dataset_dir / "labelsTr" / f"{case_id}.nii.gz")):
            itk_image = sitk.GetImageFromArray(array)
            itk_image.SetSpacing(spacing)
            sitk.WriteImage(itk_image, str(path))
    labels_json: dict = dict(REGION_LABELS if regions else LABELS)
    if unlabelled_slices:
        labels_json["ignore"] = IGNORE_LABEL
    (dataset_dir / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": labels_json, "numTraining": num_cases, "file_ending": ".nii.gz",
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


# Eight cases of six patients: two patients have two scans each.
PATIENTS = {"p1": [0, 1], "p2": [2, 3], "p3": [4], "p4": [5], "p5": [6], "p6": [7]}


@pytest.fixture(scope="session")
def raw_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3D, anisotropic spacing (0.8 x 0.8 x 2.5 mm and slightly more), with covplan_dataset.json."""
    return write_raw_dataset(tmp_path_factory.mktemp("raw") / "Dataset501_Tiny3D", patients=PATIENTS)


@pytest.fixture(scope="session")
def raw_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2D slices, no covplan_dataset.json: every case is its own patient."""
    return write_raw_dataset(tmp_path_factory.mktemp("raw") / "Dataset502_Tiny2D", num_cases=6,
                             shape_zyx=(48, 40), spacing_xyz=(0.7, 0.7), seed=1)


@pytest.fixture(scope="session")
def planned_3d(raw_3d: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WORK folder with plain_unet plans of ``raw_3d`` (planned once per session)."""
    from covplan.planning import plan_dataset

    work_dir = tmp_path_factory.mktemp("work") / "work_3d"
    plan_dataset(raw_3d, work_dir, ["plain_unet"], num_processes=1)
    return work_dir


@pytest.fixture(scope="session")
def planned_2d(raw_2d: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WORK folder with plain_unet plans of ``raw_2d`` in 3 folds (planned once per session)."""
    from covplan.planning import plan_dataset

    work_dir = tmp_path_factory.mktemp("work") / "work_2d"
    plan_dataset(raw_2d, work_dir, ["plain_unet"], num_folds=3, num_processes=1)
    return work_dir


@pytest.fixture
def work_3d(planned_3d: Path, tmp_path: Path) -> Path:
    """A fresh WORK folder of ``raw_3d`` holding its fingerprint but no plans, so planning
    into it skips fingerprint extraction."""
    work_dir = tmp_path / "work"
    shutil.copytree(planned_3d, work_dir, ignore=shutil.ignore_patterns("plans_*"))
    return work_dir
