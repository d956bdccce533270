"""Every fixture more than one test module uses, in one place. What they build is written by
the helper modules beside this file: raw datasets by tests/raw_datasets.py, WORK folders by
tests/work_folders.py, input images by tests/input_images.py; paths are in tests/paths.py.

Fixtures that train are marked: a test that uses one is marked ``slow`` (see
``pytest_collection_modifyitems``), as is every test that trains or runs a whole pipeline
itself, so that ``pytest -m "not slow"`` is the quick part of the suite.

Expensive data (trained models, preprocessed WORK folders) is built once per test run and
read by every test that needs it; under pytest-xdist the workers share it (see
:func:`built_once`). A test that writes into such data works on a copy."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

from covplan import plugins
from covplan.demo_data.layouts import write_demo_data
from covplan.planning import plan_dataset
from covplan.training import TrainingSettings, train_fold
from covplan.training.slice_classifier import train_slice_classifier
from tests.fault_mounts import LEFT_FREE_BYTES, fill_disk, make_read_only, mount_small_disk, unmount
from tests.input_images import write_sphere_volume
from tests.raw_datasets import PATIENTS, write_raw_dataset
from tests.work_folders import (CLASSIFIER_ITERATIONS, CLASSIFIER_LEARNING_RATE, SEGMENTATION_EPOCHS, TINY_TRAINING,
                                TRAINED_EPOCHS, coarse_refine_work, run_preprocessed_works_build)

# The fixtures that train a network: every test that uses one, directly or through another
# fixture, is marked slow.
TRAINING_FIXTURES = {"trained_fold", "trained_models", "classifier_work"}
# One torch thread per test process: the networks here are tiny and gain nothing from a
# second thread, and on a shared two-core machine (or beside a second pytest-xdist worker)
# a second OpenMP thread waits for a busy core and makes each step several times slower.
# Set in the environment too, for the covplan commands the tests start as processes.
TORCH_THREADS = 1


def pytest_configure(config: pytest.Config) -> None:
    os.environ["OMP_NUM_THREADS"] = str(TORCH_THREADS)
    torch.set_num_threads(TORCH_THREADS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name``, built by ``build(folder)`` once per test run. Under pytest-xdist
    the first worker to ask builds it in the run's shared temporary folder while the others
    wait for it; a build that fails leaves nothing a later one would take as finished."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name, numbered=False)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    finished = folder.with_name(f"{name}.finished")
    with FileLock(folder.with_name(f"{name}.lock")):
        if not finished.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            finished.touch()
    return folder


@pytest.fixture
def register_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[object, str], None]]:
    """Register a plugin object under a name for this test; it is unregistered after,
    and plugins it breaks are forgotten."""
    plugins.load_plugins()
    monkeypatch.setattr(plugins, "_broken", list(plugins._broken))
    names: list[str] = []

    def register(plugin: object, name: str) -> None:
        plugins.pm.register(plugin, name=name)
        names.append(name)

    try:
        yield register
    finally:
        for name in names:
            if plugins.pm.has_plugin(name):
                plugins.pm.unregister(name=name)


# Raw chest datasets and covplan's plans of them (planning, preprocessing and CLI tests).

@pytest.fixture(scope="session")
def raw_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3D, anisotropic spacing (0.8 x 0.8 x 2.5 mm and slightly more), with covplan_dataset.json
    (eight cases of six patients). Read it, never write."""
    return built_once(tmp_path_factory, "raw_3d",
                      lambda root: write_raw_dataset(root / "Dataset501_Tiny3D", patients=PATIENTS)) \
        / "Dataset501_Tiny3D"


@pytest.fixture(scope="session")
def raw_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2D slices, no covplan_dataset.json: every case is its own patient. Read it, never write."""
    return built_once(tmp_path_factory, "raw_2d",
                      lambda root: write_raw_dataset(root / "Dataset502_Tiny2D", num_cases=6, shape_zyx=(48, 40),
                                                     spacing_xyz=(0.7, 0.7), seed=1)) / "Dataset502_Tiny2D"


@pytest.fixture(scope="session")
def planned_3d(raw_3d: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WORK folder with plain_unet plans of ``raw_3d``, not preprocessed. Read it, never write."""
    return built_once(tmp_path_factory, "planned_3d",
                      lambda work: plan_dataset(raw_3d, work, ["plain_unet"], num_processes=1))


@pytest.fixture(scope="session")
def planned_2d(raw_2d: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WORK folder with plain_unet plans of ``raw_2d`` in 3 folds, not preprocessed. Read it,
    never write."""
    return built_once(tmp_path_factory, "planned_2d",
                      lambda work: plan_dataset(raw_2d, work, ["plain_unet"], num_folds=3, num_processes=1))


@pytest.fixture
def fingerprinted_work(planned_3d: Path, tmp_path: Path) -> Path:
    """A fresh WORK folder of ``raw_3d`` holding its fingerprint but no plans, so planning
    into it skips fingerprint extraction."""
    return Path(shutil.copytree(planned_3d, tmp_path / "work", ignore=shutil.ignore_patterns("plans_*")))


@pytest.fixture
def planned_3d_copy(planned_3d: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``planned_3d`` (fingerprint and plans) for one test to preprocess."""
    return Path(shutil.copytree(planned_3d, tmp_path / "work"))


# WORK folders preprocessed by nnU-Net, and models trained on them (training, inference,
# export and CLI tests).

@pytest.fixture(scope="session")
def nnunet_work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``work3d`` (bright spheres, 3d_fullres), ``work2d`` (bright discs, 2d) and their ``raw``
    datasets, planned and preprocessed by nnunetv2 (tests/work_folders.py). Read it, never write."""
    return built_once(tmp_path_factory, "nnunet_work", run_preprocessed_works_build)


@pytest.fixture
def sphere_work(nnunet_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 3D WORK folder (bright spheres, 3d_fullres) for one test."""
    return Path(shutil.copytree(nnunet_work_root / "work3d", tmp_path / "work3d"))


@pytest.fixture
def disc_work(nnunet_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 2D WORK folder (bright discs, 2d) for one test."""
    return Path(shutil.copytree(nnunet_work_root / "work2d", tmp_path / "work2d"))


@pytest.fixture(scope="session")
def trained_fold(nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Fold 0 of plain_unet trained for a few epochs on the bright spheres (with its
    validation); returns the fold folder and the evaluation summary. Read it, never write."""

    def train(root: Path) -> None:
        work = Path(shutil.copytree(nnunet_work_root / "work3d", root / "work"))
        summary = train_fold(work, "plain_unet", 0,
                             settings=TrainingSettings(num_epochs=TRAINED_EPOCHS, **TINY_TRAINING))
        (root / "summary.pkl").write_bytes(pickle.dumps(summary))

    root = built_once(tmp_path_factory, "trained_fold", train)
    return root / "work" / "plain_unet__3d_fullres" / "fold_0", pickle.loads((root / "summary.pkl").read_bytes())


@pytest.fixture(scope="session")
def trained_models(trained_fold, nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders to predict with: ``3d`` (plain_unet folds 0 and 1 on the spheres),
    ``3d_other`` (a second model folder holding fold 1 only: other weights) and ``2d``
    (fold 0 on the discs). Read them, never write."""

    def train(root: Path) -> None:
        sphere_work = Path(shutil.copytree(trained_fold[0].parent.parent, root / "work3d"))
        disc_work = Path(shutil.copytree(nnunet_work_root / "work2d", root / "work2d"))
        settings = TrainingSettings(num_epochs=TRAINED_EPOCHS, **{**TINY_TRAINING, "evaluate": False})
        train_fold(sphere_work, "plain_unet", 1, settings=settings)
        train_fold(disc_work, "plain_unet", 0, settings=settings)
        shutil.copytree(sphere_work / "plain_unet__3d_fullres", root / "other__3d_fullres",
                        ignore=shutil.ignore_patterns("fold_0"))

    root = built_once(tmp_path_factory, "trained_models", train)
    return {"3d": root / "work3d" / "plain_unet__3d_fullres", "3d_other": root / "other__3d_fullres",
            "2d": root / "work2d" / "plain_unet__2d"}


@pytest.fixture(scope="session")
def classifier_work(nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The discs planned for coarse_refine with two lesion-free cases
    (:func:`tests.work_folders.coarse_refine_work`), fold 0's segmentation and its slice
    classifier trained. Read it, never write."""

    def train(root: Path) -> None:
        work = coarse_refine_work(nnunet_work_root / "work2d", root / "work")
        train_fold(work, "coarse_refine", 0,
                   settings=TrainingSettings(num_epochs=SEGMENTATION_EPOCHS, **{**TINY_TRAINING, "evaluate": False}))
        train_slice_classifier(work, 0, iterations=CLASSIFIER_ITERATIONS, learning_rate=CLASSIFIER_LEARNING_RATE,
                               device="cpu")

    return built_once(tmp_path_factory, "classifier_work", train) / "work"


@pytest.fixture(scope="session")
def sphere_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A folder holding one image like the spheres' (``ball_0000.nii.gz``, on a grid with
    non-trivial spacing, origin and direction) and its true label map. Read it, never write."""
    folder = tmp_path_factory.mktemp("sphere_input")
    return folder, write_sphere_volume(folder / "ball_0000.nii.gz", seed=7)


# Sources in the layouts the dataset converters read (converter tests).

def tree_hash(root: Path) -> str:
    """SHA-256 over every path below ``root`` and every file's bytes."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A read-only demo source of a kind, written once per session."""
    root = tmp_path_factory.mktemp("demo_sources")

    def source(kind: str) -> Path:
        if not (root / kind).exists():
            write_demo_data(root / kind, kind, size=32, seed=7)
        return root / kind

    return source


@pytest.fixture
def source_copy(demo_source: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a demo source that a test may break."""

    def copy(kind: str) -> Path:
        return Path(shutil.copytree(demo_source(kind), tmp_path / f"{kind}_copy"))

    return copy


@pytest.fixture
def nnunet_verify() -> Callable[[Path], None]:
    """nnU-Net's ``verify_dataset_integrity`` on a converted dataset (raises when it fails)."""
    return lambda dataset_dir: verify_dataset_integrity(str(dataset_dir), num_processes=1)


@pytest.fixture
def unchanged() -> Callable[[Path], Callable[[], bool]]:
    """``check = unchanged(source)`` ... ``assert check()``: the tree is byte-identical."""

    def snapshot(root: Path) -> Callable[[], bool]:
        before = tree_hash(root)
        return lambda: tree_hash(root) == before

    return snapshot


# Faults (tests/faults/, tests/fault_mounts.py): a full disk and a read-only folder.

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tmpfs of its own (64 MiB; ``fill_disk`` fills it), unmounted after
    the test; skipped where the machine refuses to mount one."""
    folder = tmp_path / "disk"
    folder.mkdir()
    refusal = mount_small_disk(folder)
    if refusal is not None:
        pytest.skip(refusal)
    try:
        yield folder
    finally:
        unmount(folder)


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a folder read-only for this test: a read-only bind mount as root (whom
    permissions do not stop), its folders chmod 555 otherwise; undone after the test."""
    undo: list[Callable[[], None]] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            make_read_only(folder)
            undo.append(lambda: unmount(folder))
        else:  # every folder below too, as a read-only mount is
            folders = [folder, *(path for path in folder.rglob("*") if path.is_dir())]
            modes = [path.stat().st_mode for path in folders]
            for path in folders:
                path.chmod(0o555)
            undo.append(lambda: [path.chmod(mode) for path, mode in zip(folders, modes)])

    try:
        yield make
    finally:
        for step in reversed(undo):
            step()


@pytest.fixture(params=["full disk", "nearly full disk", "read-only"])
def unwritable_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An empty folder where writes fail: on a full disk (even a summary.json of a few KiB
    fails), on a nearly full one (a write starts and fails half-way), read-only; each fault
    test runs once with each."""
    if request.param != "read-only":
        disk = request.getfixturevalue("small_disk")
        fill_disk(disk, left_free=0 if request.param == "full disk" else LEFT_FREE_BYTES)
        return disk
    folder = tmp_path / "read_only"
    folder.mkdir()
    request.getfixturevalue("read_only")(folder)
    return folder
