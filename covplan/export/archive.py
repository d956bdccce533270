"""One zip archive for one or more trained models (a multi-architecture ensemble stays one
archive): what prediction needs, checked on the way in and on the way out.

Layout::

    covplan_archive.json          manifest: format, covplan version, date, models, checksums
    MODEL_CARD.md                 training data, cross-validation table, plugins, post-processing
    <arch>__<configuration>/      one folder a model, as in WORK (plans.json, dataset.json,
        fold_F/checkpoint_*.pth   covplan_dataset.json, postprocessing.json, ...), only the
        fold_F/network.onnx       chosen folds and checkpoint; ONNX networks with --onnx
        onnx.json
    <arch>__3d_lowres/            a cascade's first stage, beside it (its manifest entry
                                  names it as "previous_stage")
    ensembles/<a>+<b>/postprocessing.json   the ensemble's post-processing, when find-best chose it

Unpacked, the archive's root is a work folder in miniature: ``covplan predict`` takes its
model folders as it takes ``WORK/<arch>__<configuration>``, so the labels are the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from covplan.version import __version__
from covplan.atomic import atomic_directory, atomic_file, refuse_existing, write_json_atomic
from covplan.errors import CovplanError
from covplan.export.model_card import model_card
from covplan.inference.model import CHECKPOINTS, TrainedModel, check_models_agree, load_model
from covplan.inference.onnx_backend import ONNX_DESCRIPTION_FILE
from covplan.postprocessing.choose import ENSEMBLES_FOLDER, POSTPROCESSING_FILE, postprocessing_folder
from covplan.architectures.base import architectures
from covplan.training.checkpoints import load_checkpoint
from covplan.training.slice_classifier import SLICE_CLASSIFIER_FILE

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT_VERSION = 1
MANIFEST_FILE = "covplan_archive.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
ARCHIVE_SUFFIX = ".zip"
# The model folder's files prediction and the model card read; others (logs, validation
# outputs, other checkpoints) stay in WORK.
MODEL_FILES = ("plans.json", "dataset.json", "covplan_dataset.json", "dataset_fingerprint.json", POSTPROCESSING_FILE,
               "cv_summary.json")
# What only resuming a training run needs: an archive predicts, so its checkpoints leave
# these out (the optimiser's moments alone are twice the weights). nnU-Net's predictor
# reads the rest.
TRAINING_STATE_KEYS = ("optimizer_state", "lr_scheduler_state", "grad_scaler_state", "rng_state", "history")
# Weights do not compress; JSON and text do.
STORED_SUFFIXES = (".pth", ".onnx")
HASH_CHUNK_BYTES = 1 << 20


def is_archive(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix == ARCHIVE_SUFFIX


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _write_prediction_checkpoint(source: Path, target: Path) -> None:
    checkpoint = load_checkpoint(source)
    torch.save({key: value for key, value in checkpoint.items() if key not in TRAINING_STATE_KEYS}, target)


def _stage_model(model: TrainedModel, checkpoint: str, staging: Path, onnx: bool, threads: int) -> dict[str, Any]:
    """Copy one model's files into ``staging/<model folder name>`` (and its ONNX networks
    with ``onnx``); return its manifest entry."""
    from covplan.export.onnx_export import export_fold, onnx_description

    target = staging / model.folder.name
    target.mkdir()
    for name in MODEL_FILES:
        if (model.folder / name).is_file():
            shutil.copyfile(model.folder / name, target / name)
    for fold in model.folds:
        source, fold_target = model.folder / f"fold_{fold}", target / f"fold_{fold}"
        fold_target.mkdir()
        _write_prediction_checkpoint(source / CHECKPOINTS[checkpoint], fold_target / CHECKPOINTS[checkpoint])
        if (source / SLICE_CLASSIFIER_FILE).is_file():
            shutil.copyfile(source / SLICE_CLASSIFIER_FILE, fold_target / SLICE_CLASSIFIER_FILE)
    registered = architectures()[model.inputs.architecture]
    entry = {"folder": model.folder.name, "architecture": model.inputs.architecture,
             "distribution": registered.source.distribution, "version": registered.source.version,
             "configuration": model.configuration, "folds": [str(fold) for fold in model.folds],
             "checkpoint": checkpoint}
    if onnx:
        folds = {str(fold): export_fold(model, fold, target, threads)
                 for fold in tqdm(model.folds, desc=f"ONNX {model.folder.name}", unit="fold", leave=False)}
        write_json_atomic(target / ONNX_DESCRIPTION_FILE, onnx_description(model, folds))
        entry["onnx"] = {fold: values["max_abs_logit_difference"] for fold, values in folds.items()}
    if model.previous_stage is not None:
        entry["previous_stage"] = model.previous_stage.folder.name
    return entry


def _stage_first_stages(models: Sequence[TrainedModel], checkpoint: str, staging: Path, onnx: bool,
                        threads: int) -> None:
    """The first stage of each cascade beside it, where prediction looks for it; not one of
    the archive's models, which prediction would ensemble with the cascade."""
    staged = {model.folder.name for model in models}
    for model in models:
        previous = model.previous_stage
        if previous is not None and previous.folder.name not in staged:
            _stage_model(previous, checkpoint, staging, onnx, threads)
            staged.add(previous.folder.name)


def _stage_ensemble_postprocessing(model_folders: Sequence[Path], staging: Path) -> None:
    folder = postprocessing_folder(model_folders) if len(model_folders) > 1 else None
    if folder is not None and (folder / POSTPROCESSING_FILE).is_file():
        target = staging / ENSEMBLES_FOLDER / "+".join(Path(model).name for model in model_folders)
        target.mkdir(parents=True)
        shutil.copyfile(folder / POSTPROCESSING_FILE, target / POSTPROCESSING_FILE)


def _write_zip(staging: Path, target: Path) -> None:
    with atomic_file(target) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                compression = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                archive.write(path, path.relative_to(staging).as_posix(), compress_type=compression)


def export_archive(model_folders: Sequence[Path], target: Path, folds: list | None = None, checkpoint: str = "final",
                   onnx: bool = False, overwrite: bool = False, threads: int = 1) -> dict[str, Any]:
    """Write the chosen folds and checkpoint of ``model_folders`` (with ONNX networks when
    ``onnx``) to the zip ``target`` and return its manifest. Every model is loaded first,
    so a model that cannot predict is refused before anything is written."""
    from covplan.export.onnx_export import refuse_unexportable

    target = Path(target)
    if target.suffix != ARCHIVE_SUFFIX:
        raise CovplanError(f"{target}: an archive's name ends in {ARCHIVE_SUFFIX}; give -o NAME{ARCHIVE_SUFFIX}")
    refuse_existing(target, overwrite)
    models = [load_model(folder, folds, checkpoint) for folder in model_folders]
    check_models_agree(models)
    if len({model.folder.name for model in models}) < len(models):
        raise CovplanError("two models share a folder name; an archive holds each <arch>__<configuration> once")
    if onnx:
        for model in models:
            refuse_unexportable(model)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as temporary:
        staging = Path(temporary)
        entries = [_stage_model(model, checkpoint, staging, onnx, threads) for model in models]
        _stage_first_stages(models, checkpoint, staging, onnx, threads)
        _stage_ensemble_postprocessing([model.folder for model in models], staging)
        manifest = {"format_version": ARCHIVE_FORMAT_VERSION, "covplan_version": __version__,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "intensity_domain": models[0].intensity_domain, "labels": models[0].dataset_json["labels"],
                    "models": entries}
        (staging / MODEL_CARD_FILE).write_text(model_card(manifest, staging))
        manifest["files"] = {path.relative_to(staging).as_posix(): _sha256(path)
                             for path in sorted(staging.rglob("*")) if path.is_file()}
        write_json_atomic(staging / MANIFEST_FILE, manifest)
        _write_zip(staging, target)
    return manifest


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
    return manifest


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
            names = set(archive.namelist()) - {MANIFEST_FILE}
            if names != set(listed):
                difference = sorted(names.symmetric_difference(listed))
                raise _damaged(archive_path, f"files differ from its manifest: {', '.join(difference[:3])}")
            for name in sorted(listed):
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise _damaged(archive_path, f"unsafe path {name}")
                archive.extract(name, target)
                if _sha256(target / name) != listed[name]:
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
    with tempfile.TemporaryDirectory(prefix="covplan-archive-") as temporary:
        root = Path(temporary)
        _extract_verified(archive_path, manifest, root)
        yield [ArchivedModel(root / entry["folder"], entry["checkpoint"]) for entry in manifest["models"]]


def import_archive(archive_path: Path, target: Path, overwrite: bool = False) -> list[Path]:
    """Unpack and verify ``archive_path`` into the folder ``target`` (complete or not at
    all); return its model folders."""
    manifest = read_manifest(archive_path)
    with atomic_directory(Path(target), overwrite) as temporary:
        _extract_verified(archive_path, manifest, temporary)
    return [Path(target) / entry["folder"] for entry in manifest["models"]]
