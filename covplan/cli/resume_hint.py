"""A training command stopped by a signal says in one line the command that continues it:
train, plan-and-train and tune."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterator
from contextlib import contextmanager

import click

from covplan.cli import COMMAND_LINE
from covplan.interruption import Interrupted

logger = logging.getLogger(__name__)


@contextmanager
def exit_when_interrupted(resume_flag: str | None = "--resume") -> Iterator[None]:
    """A training command stopped by SIGTERM or SIGINT says in one line how to continue it
    (the same command, with ``resume_flag`` when it takes one) and exits with that signal's
    status (143, 130), where click would print "Aborted!" and exit with 1, or SIGTERM
    would kill it outright."""
    try:
        yield
    except Interrupted as interruption:
        arguments = click.get_current_context().meta[COMMAND_LINE]  # its options included
        added = [resume_flag] if resume_flag and resume_flag not in arguments else []
        command = shlex.join(["covplan", *arguments, *added])
        logger.warning("interrupted by %s; `%s` continues it", interruption.signal_name, command)
        click.get_current_context().exit(interruption.exit_status)
