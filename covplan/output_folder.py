"""covplan's one output-folder policy, which every command that writes a folder or file
follows (docs/cli.md, "Output folders"):

- An output never overlaps an input: an output folder equal to, inside or holding a folder
  or file the command reads, or an output file inside a folder it reads, is refused before
  any work, so that no option combination can overwrite or delete what the command reads.
- ``--overwrite`` replaces only what the command wrote: a whole output folder (``report``,
  ``import``) only when :data:`OUTPUT_RECORD` shows that this command wrote every file in
  it, so that a folder holding other data is never wiped; per-file outputs (``predict``,
  ``ensemble``) only the files the command is about to write.

Commands that work inside WORK (preprocess, train, tune, find-best, train-classifier) read
and write WORK by design; they write only the files covplan/work_folder.py names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from covplan.atomic import atomic_directory, write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json_if_present

# Written last into every folder a command replaces as a whole: which command wrote it and
# every file it wrote (paths relative to the folder). Hidden, as covplan's temporaries are.
OUTPUT_RECORD = ".covplan_output.json"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def refuse_overlap(output: Path, inputs: Iterable[Path | None], output_is_file: bool = False) -> None:
    """Refuse an output folder equal to, inside or holding one of ``inputs`` (files or
    folders; None is skipped), or an output file (``output_is_file``) that is an input or
    lies inside an input folder. Paths are compared resolved, so links and ``..`` do not
    hide an overlap."""
    target = Path(output).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if output_is_file:
            overlaps = _inside(target, source)
        else:
            overlaps = _inside(target, source) or _inside(source, target)
        if overlaps:
            kind = "file" if output_is_file else "folder"
            raise CovplanError(f"output {kind} {output} overlaps the input {given} (the same, inside or around "
                               f"it); choose an output {kind} apart from the inputs, which covplan never modifies")


def foreign_files(folder: Path, command: str) -> list[str]:
    """The files in ``folder`` that ``command`` did not write by its :data:`OUTPUT_RECORD`
    (every file when there is no record of that command)."""
    record = read_json_if_present(folder / OUTPUT_RECORD, f"remove {folder} or choose another output folder")
    record = record if isinstance(record, dict) else {}
    written = set(record.get("files", [])) if record.get("command") == command else set()
    present = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir())
    return sorted(name for name in present if name != OUTPUT_RECORD and name not in written)


def refuse_unreplaceable(target: Path, overwrite: bool, command: str) -> None:
    """Refuse, before any work, an output folder ``target`` that ``command`` may not
    replace: it exists and holds something, and either ``overwrite`` is not given or the
    folder holds files ``command`` did not write. A new or empty folder is always fine."""
    target = Path(target)
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if not target.is_dir():
        raise CovplanError(f"{target} is a file; choose a new output folder")
    if not overwrite:
        raise CovplanError(f"{target} already exists; choose another output folder or pass --overwrite")
    foreign = foreign_files(target, command)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise CovplanError(f"{target} holds files `covplan {command}` did not write ({shown}); --overwrite replaces "
                           f"only a folder this command wrote: choose another output folder or remove {target} "
                           f"yourself")


@contextmanager
def replaced_output_folder(target: Path, overwrite: bool, command: str) -> Iterator[Path]:
    """Yield an empty staging folder that becomes ``target`` when the block succeeds
    (:func:`covplan.atomic.atomic_directory`), with an :data:`OUTPUT_RECORD` of the files
    written; an existing ``target`` is replaced only as :func:`refuse_unreplaceable` allows."""
    refuse_unreplaceable(target, overwrite, command)
    with atomic_directory(Path(target), overwrite=True) as staging:
        yield staging
        files = sorted(path.relative_to(staging).as_posix() for path in staging.rglob("*") if not path.is_dir())
        write_json_atomic(staging / OUTPUT_RECORD, {"command": command, "files": files})
