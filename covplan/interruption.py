"""SIGTERM and SIGINT stop a training run cleanly instead of killing it.

SIGTERM is what SLURM and other schedulers send first when a job runs out of time or is
pre-empted (SIGKILL follows some seconds later), SIGINT what Ctrl-C sends. Python's own
reaction to SIGTERM is to die at once, without running ``finally`` blocks, which leaves
the augmentation workers to :func:`covplan.worker_lifetime.die_with_parent`. Within
:func:`interrupted_by_signals` either signal raises :class:`Interrupted` in the
training loop instead, so that the trainer's clean-up stops its workers; the checkpoint
of the last finished epoch is left as it was (checkpoints are renamed into place whole).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Training was stopped by ``signal_number``. A BaseException, as KeyboardInterrupt:
    no ``except Exception`` in nnunetv2 or batchgenerators code holds it up."""

    def __init__(self, signal_number: int):
        self.signal_number = signal_number
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name

    @property
    def exit_status(self) -> int:
        """128 + the signal number: what a shell reports for a process ended by that signal."""
        return 128 + self.signal_number


@contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """Within this context the first SIGINT or SIGTERM raises :class:`Interrupted` in the
    main thread. The previous handlers are back as soon as one arrived, so that a second
    signal during the clean-up acts as it would have without this context (SIGTERM kills
    at once). Outside the main thread, where Python cannot handle signals, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in HANDLED_SIGNALS}

    def interrupt(signal_number: int, frame) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)
        raise Interrupted(signal_number)

    for number in HANDLED_SIGNALS:
        signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
