"""One training run per fold folder: a lock file holding the trainer's process id.

Two runs writing one fold would both finish, the last writer's checkpoints winning, and a
later ``--resume`` could continue a mixture of the two."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from covplan.errors import CovplanError
from covplan.work_folder import TRAINING_LOCK


def _holder(lock: Path) -> tuple[int | None, str]:
    """Process id and host written in ``lock`` (None when unreadable: a half-written lock)."""
    try:
        pid, _, host = lock.read_text().strip().partition("@")
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


@contextmanager
def fold_lock(fold_folder: Path) -> Iterator[Path]:
    """Hold ``fold_folder/training.lock`` while training; a fold another live process
    trains is refused, and so is a lock left by a killed run (its process is gone), with
    the command that clears it. The lock is removed when training ends, however it ends."""
    created = [folder for folder in (fold_folder, *fold_folder.parents) if not folder.exists()]
    fold_folder.mkdir(parents=True, exist_ok=True)
    lock = fold_folder / TRAINING_LOCK
    host = socket.gethostname()
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        pid, holder_host = _holder(lock)
        if pid is not None and (holder_host != host or _is_running(pid)):
            raise CovplanError(f"{lock}: fold {fold_folder.name} is being trained by process {pid} on "
                               f"{holder_host or 'this host'}; wait for it to finish or stop it") from None
        raise CovplanError(f"{lock}: stale lock of process {pid if pid is not None else '?'}, which is no longer "
                           f"running (a killed run); remove it with `rm {lock}` and train again "
                           f"(--resume continues from the last checkpoint)") from None
    with os.fdopen(descriptor, "w") as stream:
        stream.write(f"{os.getpid()}@{host}\n")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        for folder in created:  # a run refused before it wrote anything leaves no empty folders
            if any(folder.iterdir()):
                break
            folder.rmdir()
