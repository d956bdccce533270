"""Shared fixtures: fake plugins registered in-process for one test only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from covplan import plugins
from tests.tiny_datasets import planned_2d, planned_3d, raw_2d, raw_3d, work_3d  # noqa: F401  (dataset fixtures)

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
