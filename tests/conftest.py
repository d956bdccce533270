"""Shared fixtures: fake plugins registered in-process for one test only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from covplan import plugins

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
def tiny_work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """WORK folders planned and preprocessed by nnunetv2 (see tests/tiny_work.py),
    built once per session in a process of its own."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("tiny_work")
    subprocess.run([sys.executable, str(Path(__file__).parent / "tiny_work.py"), str(root)],
                   check=True, capture_output=True)
    return root


@pytest.fixture
def work3d(tiny_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 3D WORK folder (bright spheres, 3d_fullres) for one test."""
    import shutil

    return Path(shutil.copytree(tiny_work_root / "work3d", tmp_path / "work3d"))


@pytest.fixture
def work2d(tiny_work_root: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 2D WORK folder (bright discs, 2d) for one test."""
    import shutil

    return Path(shutil.copytree(tiny_work_root / "work2d", tmp_path / "work2d"))
