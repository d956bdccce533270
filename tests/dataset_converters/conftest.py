"""Demo-data sources for the converter tests, a checksum of a source tree, and nnU-Net's
own integrity check."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

from covplan.demo_data.layouts import write_demo_data


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
