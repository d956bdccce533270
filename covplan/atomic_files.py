"""Outputs that appear whole or not at all: written beside the target under a temporary
name, then renamed over it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path``; a crash leaves the old file (or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=False)
            stream.write("\n")
        os.chmod(temporary_name, 0o644)  # mkstemp's 0o600 would hide WORK from other users
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise


def copy_file_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` under a temporary name, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def replace_directory(new_directory: Path, target: Path) -> None:
    """Move the finished ``new_directory`` to ``target``, replacing an older one there.
    The old directory is moved aside before the new one takes its place, so ``target``
    always holds one complete version."""
    aside = target.with_name(f".{target.name}.old")
    if aside.exists():
        shutil.rmtree(aside)
    if target.exists():
        os.replace(target, aside)
    os.replace(new_directory, target)
    if aside.exists():
        shutil.rmtree(aside)
