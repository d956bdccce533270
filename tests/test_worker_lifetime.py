"""A worker that called die_with_parent ends within moments of its parent's SIGKILL."""

from __future__ import annotations

import multiprocessing
import sys

import pytest

from covplan.worker_lifetime import die_with_parent
from tests.processes import needs_proc, seconds_a_worker_outlives_its_killed_parent

# The parent: starts a worker by multiprocessing (start method argv[1]), which ties itself
# to the parent (argv[2] "signal": die_with_parent; "sentinel": the fallback for systems
# without a parent-death signal) and reports ready; the parent prints the worker's pid.
PARENT = """
import multiprocessing, sys, threading, time
from covplan.worker_lifetime import die_with_parent, exit_when_gone

def worker(how, ready):
    if how == "signal":
        die_with_parent()
    else:
        sentinel = multiprocessing.parent_process().sentinel
        threading.Thread(target=exit_when_gone, args=(sentinel,), daemon=True).start()
    ready.set()
    time.sleep(600)

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    ready = context.Event()
    process = context.Process(target=worker, args=(sys.argv[2], ready))
    process.start()
    ready.wait()
    print(process.pid, flush=True)
    time.sleep(600)
"""


@needs_proc
@pytest.mark.parametrize("start_method, how", [("fork", "signal"), ("spawn", "signal"), ("fork", "sentinel")])
def test_the_worker_ends_when_its_parent_is_killed(tmp_path, start_method, how):
    script = tmp_path / "parent.py"  # a file: spawn's workers import the main module from it
    script.write_text(PARENT)
    assert seconds_a_worker_outlives_its_killed_parent([sys.executable, str(script), start_method, how]) < 2


def test_refuses_a_process_multiprocessing_did_not_start():
    assert multiprocessing.parent_process() is None
    with pytest.raises(RuntimeError, match="belongs in a process that multiprocessing started"):
        die_with_parent()
