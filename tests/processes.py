"""Processes seen through Linux's /proc (psutil is not a dependency), and `covplan train`
started in a process of its own, for the tests that kill a run and look for what it left
behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from Linux's /proc")

# Tiny epochs on background augmentation workers (one for training, one for validation);
# with "--epochs 1000" a run trains until it is stopped.
TINY_EPOCHS_ON_WORKERS = ["--iters-per-epoch", "2", "--val-iters", "1", "--num-workers", "1", "--no-evaluate",
                          "--device", "cpu"]


@dataclass(frozen=True)
class RunningProcess:
    """A process by pid and start time, so that a pid used again later is not taken for it."""

    pid: int
    start_time: int

    @property
    def is_alive(self) -> bool:
        """Running, or stopped, but neither gone nor a zombie (a killed worker adopted by an
        init that does not reap it stays one)."""
        stat = _stat(self.pid)
        return stat is not None and stat[19] == str(self.start_time) and stat[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[RunningProcess]:
    """The live processes whose parent is ``pid``."""
    children = []
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[1] == str(pid) and stat[0] != "Z":
            children.append(RunningProcess(int(entry.name), int(stat[19])))
    return children


def seconds_until_gone(processes: list[RunningProcess], timeout: float = 10.0) -> float:
    """Seconds until none of ``processes`` is alive; ``math.inf`` if some still are after
    ``timeout``, after which they are killed so that a failing test leaves nothing behind."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not any(process.is_alive for process in processes):
            return time.monotonic() - start
        time.sleep(0.05)
    for process in processes:
        if process.is_alive:
            os.kill(process.pid, signal.SIGKILL)
    return float("inf")


@dataclass(frozen=True)
class TrainingRun:
    """`covplan train` running in a process of its own."""

    process: subprocess.Popen
    log_file: Path

    @property
    def output(self) -> str:
        return self.log_file.read_text()

    def wait_for(self, path: Path, timeout: float = 120.0) -> None:
        """Wait until ``path`` exists; fail (killing the run) if the run ends or time runs out first."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"{path} was not written (exit status {self.process.wait()}):\n{self.output[-3000:]}")
            time.sleep(0.05)


def seconds_a_worker_outlives_its_killed_parent(command: list[str]) -> float:
    """Start ``command``, a parent that prints the pid of one multiprocessing worker it
    started, check that worker runs, kill the parent with SIGKILL; seconds until the
    worker is gone."""
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        [worker] = [child for child in children_of(parent.pid) if child.pid == worker_pid]
        assert worker.is_alive
    finally:
        parent.kill()
        parent.wait()
    return seconds_until_gone([worker])


def start_training(work: Path, *options: str) -> TrainingRun:
    """`covplan train WORK --arch plain_unet --folds 0 OPTIONS` on this source tree, its
    output going to ``WORK.log``."""
    log_file = work.with_suffix(".log")
    environment = {**os.environ, "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log_file, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "covplan", "train", str(work), "--arch", "plain_unet",
                                    "--folds", "0", *options], stdout=log, stderr=subprocess.STDOUT, env=environment)
    return TrainingRun(process, log_file)


def _files_under(folder: Path) -> set[str]:
    found: set[str] = set()
    for root, _, names in os.walk(folder):
        found.update(os.path.join(root, name) for name in names)
    return found


def kill_at_first_new_file(arguments: list[str], watched: Path, timeout: float = 300.0) -> str:
    """Run `covplan ARGUMENTS` on this source tree and SIGKILL it (and its workers: its
    whole process group) as soon as a file appears under ``watched``, as a job ended by
    its scheduler or the OOM killer mid-write; returns its stderr. Fails if the command
    ends, or ``timeout`` passes, before it writes."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    before = _files_under(watched)
    process = subprocess.Popen([sys.executable, "-m", "covplan", *arguments], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=environment, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not _files_under(watched) - before:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"covplan {' '.join(arguments)} wrote nothing under {watched} before it ended "
                            f"(exit status {process.poll()}): {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
    return stderr.decode()


def dead_pid() -> int:
    """The id of a process that has ended and been reaped (what a killed run's lock names)."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(ended.stdout)
