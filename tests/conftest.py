"""Shared fixtures: fake plugins registered in-process for one test only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from covplan import plugins
from tests.slice_classifier_work import classifier_work  # noqa: F401  (slice classifier fixture)
from tests.tiny_datasets import fingerprinted_work, planned_2d, planned_3d, raw_2d, raw_3d  # noqa: F401  (dataset fixtures)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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


@pytest.fixture(scope="session")
def nnunet_work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """WORK folders planned and preprocessed by nnunetv2 (see tests/nnunet_work.py),
    built once per session in a process of its own."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("nnunet_work")
    subprocess.run([sys.executable, "-m", "tests.nnunet_work", str(root)], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    return root


@pytest.fixture
def sphere_work(nnunet_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 3D WORK folder (bright spheres, 3d_fullres) for one test."""
    import shutil

    return Path(shutil.copytree(nnunet_work_root / "work3d", tmp_path / "work3d"))


@pytest.fixture
def disc_work(nnunet_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 2D WORK folder (bright discs, 2d) for one test."""
    import shutil

    return Path(shutil.copytree(nnunet_work_root / "work2d", tmp_path / "work2d"))


@pytest.fixture(scope="session")
def trained_fold(nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Fold 0 of plain_unet trained for a few epochs on the bright spheres (with its
    validation); returns the fold folder and the evaluation summary. Read it, never write."""
    import shutil

    from covplan.training import TrainingSettings, train_fold
    from tests.nnunet_work import TINY_TRAINING, TRAINED_EPOCHS

    work = Path(shutil.copytree(nnunet_work_root / "work3d", tmp_path_factory.mktemp("trained") / "work"))
    summary = train_fold(work, "plain_unet", 0, settings=TrainingSettings(num_epochs=TRAINED_EPOCHS, **TINY_TRAINING))
    return work / "plain_unet__3d_fullres" / "fold_0", summary


@pytest.fixture(scope="session")
def trained_models(trained_fold, nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders to predict with: ``3d`` (plain_unet folds 0 and 1 on the spheres),
    ``3d_other`` (a second model folder holding fold 1 only: other weights) and ``2d``
    (fold 0 on the discs). Read them, never write."""
    import shutil

    from covplan.training import TrainingSettings, train_fold
    from tests.nnunet_work import TINY_TRAINING, TRAINED_EPOCHS

    root = tmp_path_factory.mktemp("models")
    sphere_work = Path(shutil.copytree(trained_fold[0].parent.parent, root / "work3d"))
    disc_work = Path(shutil.copytree(nnunet_work_root / "work2d", root / "work2d"))
    settings = TrainingSettings(num_epochs=TRAINED_EPOCHS, **{**TINY_TRAINING, "evaluate": False})
    train_fold(sphere_work, "plain_unet", 1, settings=settings)
    train_fold(disc_work, "plain_unet", 0, settings=settings)
    model3d = sphere_work / "plain_unet__3d_fullres"
    other = root / "other__3d_fullres"
    shutil.copytree(model3d, other, ignore=shutil.ignore_patterns("fold_0"))
    return {"3d": model3d, "3d_other": other, "2d": disc_work / "plain_unet__2d"}
