"""Reading the JSON files covplan's stages hand to each other, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """The content of ``path``; a missing or damaged file raises a :class:`CovplanError`
    naming it, followed by ``fix`` (what the user should do)."""
    if not path.is_file():
        raise CovplanError(f"{path} not found; {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CovplanError(f"{path} is not valid JSON ({error}); {fix}") from error
