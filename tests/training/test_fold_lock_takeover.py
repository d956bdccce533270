"""A lock left by a killed run: taken over on its own host with one warning (a requeued
job resumes), refused with the way out when another host wrote it (issue 29, item 2)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

import pytest

from covplan.errors import CovplanError
from covplan.training.fold_lock import fold_lock
from tests.processes import dead_pid


def write_lock(fold_folder, pid, host):
    fold_folder.mkdir(parents=True)
    (fold_folder / "training.lock").write_text(f"{pid}@{host}\n")


def test_a_dead_process_lock_on_this_host_is_taken_over_with_one_warning(tmp_path, caplog):
    pid = dead_pid()
    write_lock(tmp_path / "fold_1", pid, socket.gethostname())
    lock = tmp_path / "fold_1" / "training.lock"
    with caplog.at_level(logging.WARNING):
        with fold_lock(tmp_path / "fold_1"):
            assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == [f"{lock}: taking over the lock of process {pid}, which is no longer running (a killed run)"]
    assert not lock.exists()


def test_a_lock_from_another_host_is_refused_in_one_line_naming_the_file_and_the_fix(tmp_path):
    write_lock(tmp_path / "fold_0", 4242, "node-17.cluster")
    lock = tmp_path / "fold_0" / "training.lock"
    with pytest.raises(CovplanError) as refusal:
        with fold_lock(tmp_path / "fold_0"):
            pass
    assert str(refusal.value) == (f"{lock}: fold fold_0 is locked by process 4242 on host node-17.cluster, which "
                                  f"this host cannot check; if that job is gone, remove the lock (rm {lock}) and "
                                  f"train again with --resume")
    assert lock.read_text() == "4242@node-17.cluster\n"


def test_a_live_process_lock_on_this_host_is_still_refused(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path / "fold_0", other.pid, socket.gethostname())
        with pytest.raises(CovplanError, match=rf"fold fold_0 is being trained by process {other.pid} on "
                                               rf"{socket.gethostname()}; wait for it to finish or stop it"):
            with fold_lock(tmp_path / "fold_0"):
                pass
        assert (tmp_path / "fold_0" / "training.lock").read_text() == f"{other.pid}@{socket.gethostname()}\n"
    finally:
        other.kill()
        other.wait()
