"""Session fixtures that write tiny raw chest datasets (with :func:`tests.helpers.write_raw_dataset`)
and plan them once for the planning, preprocessing and CLI tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import write_raw_dataset

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
def fingerprinted_work(planned_3d: Path, tmp_path: Path) -> Path:
    """A fresh WORK folder of ``raw_3d`` holding its fingerprint but no plans, so planning
    into it skips fingerprint extraction."""
    work_dir = tmp_path / "work"
    shutil.copytree(planned_3d, work_dir, ignore=shutil.ignore_patterns("plans_*"))
    return work_dir
