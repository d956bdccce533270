"""One training run per fold folder: a lock file holding the trainer's process id.

Two runs writing one fold would both finish, the last writer's checkpoints winning, and a
later ``--resume`` could continue a mixture of the two."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from covplan.errors import CovplanError
from covplan.scratch import process_is_running
from covplan.work_folder import TRAINING_LOCK

logger = logging.getLogger(__name__)


def _holder(lock: Path) -> tuple[int | None, str]:
    """Process id and host written in ``lock`` (None when unreadable: a half-written lock)."""
    try:
        pid, _, host = lock.read_text().strip().partition("@")
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


@contextmanager
def fold_lock(fold_folder: Path) -> Iterator[Path]:
    """Hold ``fold_folder/training.lock`` while training; a fold another live process
    trains is refused. A lock left by a killed run on this host is taken over with a
    warning, so that a requeued job or tune's retry of a killed trial resumes; one written
    on another host, whose process this host cannot check, is refused with how to clear it.
    The lock is removed when training ends, however it ends."""
    created = [folder for folder in (fold_folder, *fold_folder.parents) if not folder.exists()]
    fold_folder.mkdir(parents=True, exist_ok=True)
    lock = fold_folder / TRAINING_LOCK
    host = socket.gethostname()
    try:
        descriptor = _create(lock)
    except FileExistsError:
        descriptor = _take_over(lock, fold_folder.name, host)
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


def _create(lock: Path) -> int:
    return os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)


def _take_over(lock: Path, fold_name: str, host: str) -> int:
    """The descriptor of ``lock`` made anew in place of a killed run's, or the refusal."""
    pid, holder_host = _holder(lock)
    if pid is None:  # unreadable: its writer may be between creating and writing it
        raise CovplanError(f"{lock}: unreadable lock (a run killed as it started, or one starting now); if no run "
                           f"trains fold {fold_name}, remove it with `rm {lock}` and train again with --resume")
    if holder_host != host:
        raise CovplanError(f"{lock}: fold {fold_name} is locked by process {pid} on host {holder_host}, which this "
                           f"host cannot check; if that job is gone, remove the lock (rm {lock}) and train again "
                           f"with --resume")
    if process_is_running(pid):
        raise CovplanError(f"{lock}: fold {fold_name} is being trained by process {pid} on {holder_host}; wait for "
                           f"it to finish or stop it")
    logger.warning("%s: taking over the lock of process %d, which is no longer running (a killed run)", lock, pid)
    lock.unlink(missing_ok=True)
    try:
        return _create(lock)
    except FileExistsError:  # another run took it over first
        raise CovplanError(f"{lock}: fold {fold_name} was taken over by another run just now; wait for it to "
                           f"finish or stop it") from None
