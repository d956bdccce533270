"""The faults of a shared cluster or a hospital workstation, made real for the fault
harness (tests/faults/): a full disk (a small tmpfs), a read-only folder (a read-only bind
mount, as chmod does not stop root) and the three things every fault test checks.

Mounting needs root (or CAP_SYS_ADMIN); where the machine refuses it, the fixtures of
tests/conftest.py skip with the reason."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import SimpleITK as sitk

# Bytes a full disk keeps free: less than any output covplan writes, more than none, so
# that a write starts and fails half-way, the case "nothing half-written" is about.
LEFT_FREE_BYTES = 16 * 1024
BALLAST = "ballast.bin"


def mount_small_disk(folder: Path) -> str | None:
    """Mount a 64 MiB tmpfs at ``folder``; None when done, else why the machine refused."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs or a read-only folder needs root"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True,
                            text=True, check=False)
    return None if result.returncode == 0 else f"mount -t tmpfs refused: {result.stderr.strip()}"


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=True)


def fill_disk(folder: Path, left_free: int = LEFT_FREE_BYTES) -> None:
    """Fill the disk of ``folder`` with a ballast file until ``left_free`` bytes are left."""
    free = shutil.disk_usage(folder).free
    with (folder / BALLAST).open("wb") as stream:
        stream.truncate(0)
        remaining = max(0, free - left_free)
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= stream.write(chunk[:min(len(chunk), remaining)])


def make_read_only(folder: Path) -> None:
    """Bind-mount ``folder`` onto itself read-only (root is not stopped by permissions)."""
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (a file itself) and the hash of its bytes: inputs must
    be byte-identical after a fault."""
    paths = [folder] if folder.is_file() else sorted(path for path in folder.rglob("*") if path.is_file())
    return {path.as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _complete(path: Path) -> bool:
    """Whether ``path`` is a whole output file: no temporary, and its reader reads it."""
    if path.name.startswith(".") and ".tmp" in path.name:
        return False
    try:
        if path.name.endswith((".nii.gz", ".png")):
            sitk.ReadImage(str(path))
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
        else:
            return False  # a kind this check cannot read: shown, to be looked at
    except (RuntimeError, ValueError, OSError, zipfile.BadZipFile):
        return False
    return True


def half_written(folder: Path, before: dict[str, str]) -> list[str]:
    """Files under ``folder`` that a failed command added or changed and that are not
    complete: nothing may be (a complete file written before the failure may stay)."""
    after = tree_digest(folder) if folder.exists() else {}
    return sorted(name for name, digest in after.items() if before.get(name) != digest and not _complete(Path(name)))


# A tqdm progress bar as it is drawn: "report:  50%|█████     | 1/2 [...]".
PROGRESS_BAR = re.compile(r"^[^|]*: *\d+%\|")


def one_line_error(output: str) -> bool:
    """Whether ``output`` holds a single line of covplan's error and no traceback; progress
    bars (each drawing after a carriage return) do not count."""
    drawn = (line.rsplit("\r", 1)[-1].strip() for line in output.split("\n"))
    lines = [line for line in drawn if line and not PROGRESS_BAR.match(line)]
    return len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in output
