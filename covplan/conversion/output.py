"""Output folders that appear whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from covplan.atomic import atomic_directory
from covplan.errors import CovplanError
from covplan.output_folder import refuse_overlap


def check_output_dir(output_dir: Path, source_dir: Path | None = None) -> Path:
    """The absolute output folder, refused when it already holds something or overlaps
    the source (writing there would modify the source)."""
    output_dir = output_dir.absolute()
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise CovplanError(f"{output_dir} already exists and is not an empty folder; "
                           f"choose a new output folder or remove this one first")
    refuse_overlap(output_dir, [source_dir])
    return output_dir


@contextmanager
def atomic_output_dir(output_dir: Path, source_dir: Path | None = None) -> Iterator[Path]:
    """Yield an empty staging folder beside ``output_dir`` (:func:`covplan.atomic.atomic_directory`);
    it becomes ``output_dir`` when the block succeeds and is removed, with any parent folders
    this created, when it fails, so that no half-written output is ever left behind."""
    output_dir = check_output_dir(output_dir, source_dir)
    created_parents = [p for p in reversed(output_dir.parents) if not p.exists()]
    try:
        # check_output_dir let through only an empty output_dir, which may be replaced.
        with atomic_directory(output_dir, overwrite=True) as staging:
            yield staging
    except BaseException:
        for parent in reversed(created_parents):
            if parent.exists() and not any(parent.iterdir()):
                parent.rmdir()
        raise
