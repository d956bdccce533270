"""Errors a user can fix: the CLI prints them as one line, never as a traceback."""


class CovplanError(Exception):
    """Bad input or state that the message tells the user how to fix."""


class WriteFailed(Exception):
    """An output could not be written for want of disk space or permission (made by
    :func:`covplan.write_failures.write_failure`); the CLI prints it as one line, as a
    :class:`CovplanError`. Not a CovplanError on purpose: code that reports a case's
    CovplanError and goes on to the next case (predict, tune's trials) must stop here,
    since every later write would fail the same way."""
