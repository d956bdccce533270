"""Reading a covplan model archive (the zip ``covplan export`` writes, laid out as
:mod:`covplan.export.archive` describes): its manifest checked, then its files unpacked and
verified against their checksums, into a scratch folder for prediction (one a killed
run left is removed by the next, :mod:`covplan.scratch`) or into a folder for
``covplan import``.

Unpacked, the archive's root is a work folder in miniature: ``covplan predict`` takes its
model folders as it takes ``WORK/<arch>__<configuration>``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from covplan.architectures.base import architectures
from covplan.atomic import failures_named, write_json_atomic
from covplan.errors import CovplanError
from covplan.file_hashes import file_sha256
from covplan.output_folder import refuse_overlap, replaced_output_folder
from covplan.scratch import scratch_folder
from covplan.version import __version__

ARCHIVE_FORMAT_VERSION = 1
MANIFEST_FILE = "covplan_archive.json"
ARCHIVE_SUFFIX = ".zip"
IMPORT_COMMAND = "import"  # the command named in an imported folder's record (covplan.output_folder)


def is_archive(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix == ARCHIVE_SUFFIX


def _damaged(archive_path: Path, why: str) -> CovplanError:
    return CovplanError(f"{archive_path}: damaged archive ({why}); copy it again or export it again with "
                        f"`covplan export`")


def read_manifest(archive_path: Path) -> dict[str, Any]:
    """The manifest of ``archive_path``, refused when the file is no covplan archive or was
    written by a newer covplan."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            manifest = json.loads(archive.read(MANIFEST_FILE))
    except KeyError:
        raise CovplanError(f"{archive_path}: not a covplan model archive (no {MANIFEST_FILE}); give a file "
                           f"`covplan export` wrote") from None
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as error:
        raise _damaged(archive_path, str(error)) from error
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > ARCHIVE_FORMAT_VERSION:
        raise CovplanError(f"{archive_path}: written by covplan {manifest.get('covplan_version', '?')} (archive "
                           f"format {version}); this covplan {__version__} reads format {ARCHIVE_FORMAT_VERSION}; "
                           f"upgrade covplan (pip install -U covplan)")
    _refuse_paths_outside(archive_path, manifest)
    return manifest


def _inside_archive(name: Any, listed: Any) -> bool:
    """Whether ``name`` is a folder of the archive: a relative path without ``..`` under
    which the manifest lists files."""
    if not isinstance(name, str) or not isinstance(listed, dict):
        return False
    path = Path(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return False
    return any(Path(file).parts[:len(path.parts)] == path.parts for file in listed)


def _refuse_paths_outside(archive_path: Path, manifest: dict[str, Any]) -> None:
    """Every model folder (and cascade first stage) a manifest names must lie inside the
    archive: a crafted ``"folder": "../../.."`` would make predict load, and import name,
    a folder outside it."""
    models = manifest.get("models")
    if not isinstance(models, list) or not models:
        raise _damaged(archive_path, "its manifest lists no models")
    for entry in models:
        names = [entry.get("folder"), *([entry["previous_stage"]] if "previous_stage" in entry else [])] \
            if isinstance(entry, dict) else [None]
        for name in names:
            if not _inside_archive(name, manifest.get("files")):
                raise CovplanError(f"{archive_path}: its manifest names the model folder {name!r}, which is not "
                                   f"inside the archive; use an archive `covplan export` wrote, or export it again")


def check_plugins(archive_path: Path, manifest: dict[str, Any]) -> None:
    """Refuse an archive whose torch networks need an architecture that is not installed."""
    installed = architectures()
    for entry in manifest["models"]:
        if entry["architecture"] not in installed:
            onnx = " or predict with --backend onnxruntime" if "onnx" in entry else ""
            raise CovplanError(f"{archive_path}: model {entry['folder']} needs the architecture "
                               f"'{entry['architecture']}' from the distribution {entry['distribution']} "
                               f"{entry['version']}, which is not installed; pip install "
                               f"'{entry['distribution']}=={entry['version']}'{onnx}")


def _extract_verified(archive_path: Path, manifest: dict[str, Any], target: Path) -> None:
    """Unpack every file the manifest lists into ``target`` and compare its checksum."""
    listed = manifest.get("files", {})
    try:
        with zipfile.ZipFile(archive_path) as archive:
            # Folder entries (a zip the user unpacked and zipped again holds them) are no files.
            names = {entry.filename for entry in archive.infolist() if not entry.is_dir()} - {MANIFEST_FILE}
            if names != set(listed):
                difference = sorted(names.symmetric_difference(listed))
                raise _damaged(archive_path, f"files differ from its manifest: {', '.join(difference[:3])}")
            for name in sorted(listed):
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise _damaged(archive_path, f"unsafe path {name}")
                with failures_named(target):  # a full disk is no damage of the archive
                    archive.extract(name, target)
                if file_sha256(target / name) != listed[name]:
                    raise _damaged(archive_path, f"checksum of {name} does not match")
    except (zipfile.BadZipFile, OSError, EOFError) as error:  # CRC errors and truncation
        raise _damaged(archive_path, str(error)) from error
    write_json_atomic(target / MANIFEST_FILE, manifest)


@dataclass(frozen=True)
class ArchivedModel:
    """A model folder unpacked from an archive, and the checkpoint the archive holds."""

    folder: Path
    checkpoint: str


@contextmanager
def unpacked_archive(archive_path: Path, need_plugins: bool = True) -> Iterator[list[ArchivedModel]]:
    """Unpack and verify ``archive_path`` into a temporary folder for the duration of the
    block; yield its models in the archive's order."""
    manifest = read_manifest(archive_path)
    if need_plugins:
        check_plugins(archive_path, manifest)
    with scratch_folder("covplan-archive-") as root:
        _extract_verified(archive_path, manifest, root)
        yield [ArchivedModel(root / entry["folder"], entry["checkpoint"]) for entry in manifest["models"]]


def import_archive(archive_path: Path, target: Path, overwrite: bool = False) -> list[Path]:
    """Unpack and verify ``archive_path`` into the folder ``target`` (complete or not at
    all); return its model folders. ``overwrite`` replaces only a folder an import wrote
    (:mod:`covplan.output_folder`)."""
    refuse_overlap(Path(target), [archive_path])
    manifest = read_manifest(archive_path)
    with replaced_output_folder(Path(target), overwrite, IMPORT_COMMAND) as temporary:
        _extract_verified(archive_path, manifest, temporary)
    return [Path(target) / entry["folder"] for entry in manifest["models"]]
