"""Reading JSON files (the ones covplan's stages hand to each other and the ones users give),
with one-line errors that name the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError


def read_json(path: Path, fix: str) -> Any:
    """The content of ``path``; a missing, unreadable or damaged file raises a
    :class:`CovplanError` naming it, followed by ``fix`` (what the user should do)."""
    if not path.is_file():
        raise CovplanError(f"{path} not found; {fix}")
    return _parse(path, fix)


def read_json_if_present(path: Path, fix: str) -> Any | None:
    """The content of ``path``, or None when there is no such file; a damaged file raises
    as in :func:`read_json`."""
    return _parse(path, fix) if path.is_file() else None


def _parse(path: Path, fix: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CovplanError(f"{path} is not valid JSON ({error}); {fix}") from error
