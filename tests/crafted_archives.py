"""Model archives written by hand, as a user (or an attacker) could craft them: a manifest
and files with matching checksums but no trained network, for the tests of what reading an
archive refuses before any model is loaded."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from covplan.inference.archive_reader import ARCHIVE_FORMAT_VERSION, MANIFEST_FILE

MODEL_FOLDER = "plain_unet__3d_fullres"


def model_entry(folder: str = MODEL_FOLDER, **keys: Any) -> dict[str, Any]:
    """A manifest's entry of one model, as covplan export writes it."""
    return {"folder": folder, "architecture": "plain_unet", "distribution": "covplan", "version": "0",
            "configuration": "3d_fullres", "folds": ["0"], "checkpoint": "final", **keys}


def write_crafted_archive(path: Path, models: list[dict[str, Any]] | None = None,
                          files: dict[str, bytes] | None = None) -> Path:
    """A zip at ``path`` whose manifest lists ``models`` and ``files`` with their checksums."""
    files = {f"{MODEL_FOLDER}/plans.json": b"{}"} if files is None else files
    manifest = {"format_version": ARCHIVE_FORMAT_VERSION, "covplan_version": "0", "models": models or [model_entry()],
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(MANIFEST_FILE, json.dumps(manifest))
    return path
