"""Scratch folders that no killed process leaves behind for good.

A process ended by SIGKILL (the OOM killer, a cluster's time limit) runs no clean-up, so a
``tempfile.TemporaryDirectory`` it unpacked an archive into stays in the temporary folder
until the machine is wiped. A scratch folder is named after its host and process id, and
the next process that makes one with the same prefix removes those whose process on this
host is gone (folders of another host, whose processes this one cannot check, are left
alone, as are other users')."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


def process_is_running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(folder: Path, own_prefix: str) -> int | None:
    try:
        return int(folder.name.removeprefix(own_prefix).split("-", 1)[0])
    except ValueError:
        return None


def remove_stale_scratch_folders(prefix: str) -> list[Path]:
    """Remove this user's scratch folders of ``prefix`` whose process on this host is gone;
    returns them."""
    own_prefix = f"{prefix}{socket.gethostname()}-"
    stale = []
    for folder in Path(tempfile.gettempdir()).glob(f"{own_prefix}*"):
        pid = _owner_pid(folder, own_prefix)
        if pid is None or process_is_running(pid) or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        stale.append(folder)
    return stale


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new empty folder in the temporary folder for the duration of the block, named
    ``<prefix><host>-<pid>-<random>``; stale folders of ``prefix`` are removed first."""
    for stale in remove_stale_scratch_folders(prefix):
        logger.info("removed %s, left by a killed run", stale)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{socket.gethostname()}-{os.getpid()}-") as folder:
        yield Path(folder)
