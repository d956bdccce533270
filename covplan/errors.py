"""Errors a user can fix: the CLI prints them as one line, never as a traceback."""


class CovplanError(Exception):
    """Bad input or state that the message tells the user how to fix."""
