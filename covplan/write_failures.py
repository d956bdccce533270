"""A write that fails for want of disk space or permission, said as one line naming the
file and the fix (issue 29, items 10 and 11) instead of a traceback.

Python's OSError carries an error number; the C++ writers covplan uses (torch.save,
SimpleITK) raise a RuntimeError without one ("file write failed"), or, SimpleITK's NIfTI
writer, nothing at all. For those, a disk with (almost) no space left is taken as the
cause: that is what a write to an existing, writable folder fails on.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path

from covplan.errors import CovplanError, WriteFailed

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
# Free bytes below which a failed write is put down to a full disk: less than one block
# of the sizes covplan writes (checkpoints, compressed volumes) is left.
FULL_DISK_BYTES = 1 << 20


def disk_is_full(path: Path) -> bool:
    """Whether the disk that holds ``path`` (or its nearest existing parent) is (almost) full."""
    existing = next((folder for folder in (Path(path), *Path(path).parents) if folder.exists()), None)
    if existing is None:
        return False
    try:
        return shutil.disk_usage(existing).free < FULL_DISK_BYTES
    except OSError:
        return False


def no_space(path: Path) -> WriteFailed:
    return WriteFailed(f"{path}: no space left on its disk; free some space there or choose an output folder on "
                       f"another disk, then run the command again (nothing half-written was kept)")


def not_writable(path: Path, reason: str) -> WriteFailed:
    return WriteFailed(f"{path}: cannot write there ({reason}); make the folder writable or choose an output "
                       f"folder you may write to, then run the command again")


def write_failure(error: BaseException, target: Path) -> WriteFailed | None:
    """The one-line error for ``error``, raised while writing ``target``, which it names
    (not the hidden temporary the error may name); None when it is no failure of space or
    permission (a bug, bad input, an interruption)."""
    if isinstance(error, WriteFailed):
        return error
    if isinstance(error, (CovplanError, KeyboardInterrupt)) or not isinstance(error, Exception):
        return None
    number = getattr(error, "errno", None)
    if number in NO_SPACE:
        return no_space(target)
    if number in NOT_WRITABLE:
        return not_writable(target, getattr(error, "strerror", None) or str(error))
    if number is None and disk_is_full(target):
        return no_space(target)
    return None


def check_written(path: Path, read: Callable[[Path], object]) -> None:
    """For writers that ignore a failed write: SimpleITK's NIfTI writer leaves a short or
    empty file and no error when the disk fills up. Where the disk is (almost) full after
    writing ``path``, read it back with ``read``; a file that cannot be read is a full disk's
    doing."""
    if disk_is_full(path):
        try:
            read(path)
        except Exception as error:
            raise no_space(path) from error


def os_error_line(error: OSError) -> WriteFailed | None:
    """The one-line error of an OSError of space or permission that reached the command
    line unnamed by a writer (a folder made with mkdir, a log file); None for others."""
    if error.errno not in NO_SPACE | NOT_WRITABLE:
        return None
    return write_failure(error, Path(error.filename or "an output file"))
