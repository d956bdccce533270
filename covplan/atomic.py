"""Writing outputs so that a crash never leaves a half-written file or folder: everything is
written to a temporary name beside the target and renamed at the end. A write that fails
for want of space or permission leaves nothing behind and is raised as one line naming
the target (:mod:`covplan.write_failures`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError, WriteFailed
from covplan.write_failures import write_failure


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def failures_named(target: Path) -> Iterator[None]:
    """Within this context a failure for want of space or permission is raised as
    :class:`covplan.errors.WriteFailed` naming ``target``; other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        failure = write_failure(error, target)
        if failure is None or failure is error:
            raise
        raise failure from error


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``
    (replacing an older file), on error it is removed."""
    with failures_named(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(descriptor)
        temporary = Path(temporary_name)
        try:
            # mkstemp creates the file for its owner only; the result gets the usual permissions.
            temporary.chmod(0o666 & ~_umask())
            yield temporary
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the hidden temporary files :func:`atomic_file` leaves in ``folder`` when its
    process is killed (``.NAME.XXXX.tmp``, and ``.tmp.ENDING`` for writers that need a file
    ending); returns what was removed."""
    stale = sorted(path for path in folder.glob(".*.tmp*") if path.is_file()) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def refuse_existing(target: Path, overwrite: bool) -> None:
    """Stop before any work when ``target`` exists and may not be replaced."""
    if target.exists() and not overwrite:
        raise CovplanError(f"{target} already exists; choose another output folder or pass --overwrite")


@contextmanager
def atomic_directory(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it becomes ``target``.

    An existing ``target`` is refused unless ``overwrite``; then it is replaced only after
    the new folder is complete.
    """
    refuse_existing(target, overwrite)
    with failures_named(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            temporary.chmod(0o777 & ~_umask())
            yield temporary
            replace_directory(temporary, target)
        except WriteFailed as failure:  # name the output the user gave, not its hidden staging folder
            raise WriteFailed(str(failure).replace(str(temporary), str(target), 1)) from failure
        finally:
            if temporary.exists():
                shutil.rmtree(temporary)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path``; a crash leaves the old file (or none)."""
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def save_figure_atomic(figure: Any, path: Path) -> None:
    """Save a matplotlib ``figure`` as PNG to ``path`` under a temporary name, then close it."""
    from matplotlib import pyplot as plt

    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)


def copy_file_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` under a temporary name, then rename it into place."""
    with atomic_file(target) as temporary:
        shutil.copyfile(source, temporary)


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
