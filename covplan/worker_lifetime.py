"""Worker processes that cannot outlive the process that started them.

A process ended by SIGKILL (how a cluster ends a job that ran out of time or memory, or
is pre-empted) runs no clean-up of its own. batchgenerators' augmentation workers and
the workers of multiprocessing's pools do not watch their parent: they keep running or
waiting, re-parented to init, holding their memory, for as long as the node is up.
:func:`die_with_parent`, called at the start of such a worker, ends it with its parent,
however the parent ended.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """In a process that multiprocessing started (a pool initializer, the first call of a
    worker): end this process as soon as its parent is gone.

    On Linux the kernel sends SIGKILL (``prctl(PR_SET_PDEATHSIG)``), which also ends a
    worker busy in native code; Linux ties it to the thread that started the worker, so
    start workers from a thread that outlives them (the main thread does). Elsewhere, or
    where a sandbox refuses that, a daemon thread waits on the parent's sentinel and
    exits the process."""
    parent = multiprocessing.parent_process()
    if parent is None:
        raise RuntimeError("die_with_parent() belongs in a process that multiprocessing started")
    if _killed_when_parent_dies():
        if not parent.is_alive():  # it died before the request: no signal will come
            os._exit(1)
    else:
        threading.Thread(target=exit_when_gone, args=(parent.sentinel,), name="die-with-parent", daemon=True).start()


def _killed_when_parent_dies() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where that cannot be
    asked (other systems, a sandbox that refuses prctl)."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def exit_when_gone(parent_sentinel: int) -> None:
    """Block until ``parent_sentinel`` says the parent ended, then exit at once: no
    clean-up, which could block on queues nobody reads any more."""
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)
