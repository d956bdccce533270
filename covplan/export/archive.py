"""Writing one zip archive for one or more trained models (a multi-architecture ensemble
stays one archive): what prediction needs, every model loaded and checked before anything is
written. :mod:`covplan.inference.archive_reader` reads it back.

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

import logging
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from covplan.architectures.base import architectures
from covplan.atomic import atomic_file, failures_named, refuse_existing, write_json_atomic
from covplan.errors import CovplanError
from covplan.export.int8 import calibration_tiles
from covplan.export.model_card import model_card
from covplan.export.onnx_export import export_fold, onnx_description, refuse_unexportable
from covplan.file_hashes import file_sha256
from covplan.inference.archive_reader import ARCHIVE_FORMAT_VERSION, ARCHIVE_SUFFIX, MANIFEST_FILE
from covplan.inference.model_loading import CHECKPOINTS, TrainedModel, check_models_agree, load_model
from covplan.inference.onnx_backend import ONNX_DESCRIPTION_FILE
from covplan.output_folder import refuse_overlap
from covplan.postprocessing.choose import ENSEMBLES_FOLDER, POSTPROCESSING_FILE, postprocessing_folder
from covplan.training.checkpoints import load_checkpoint
from covplan.training.slice_classifier import SLICE_CLASSIFIER_FILE
from covplan.version import __version__
from covplan.work_folder import CV_SUMMARY_JSON, INIT_FROM_JSON, MODEL_DESCRIPTION_FILES, fold_folder

logger = logging.getLogger(__name__)

MODEL_CARD_FILE = "MODEL_CARD.md"
# The model folder's files prediction and the model card read; others (logs, validation
# outputs, other checkpoints) stay in WORK.
MODEL_FILES = (*MODEL_DESCRIPTION_FILES, POSTPROCESSING_FILE, CV_SUMMARY_JSON)
# What only resuming a training run needs: an archive predicts, so its checkpoints leave
# these out (the optimiser's moments alone are twice the weights). nnU-Net's predictor
# reads the rest.
TRAINING_STATE_KEYS = ("optimizer_state", "lr_scheduler_state", "grad_scaler_state", "rng_state", "history")
# Weights do not compress; JSON and text do.
STORED_SUFFIXES = (".pth", ".onnx")


def _write_prediction_checkpoint(source: Path, target: Path) -> None:
    checkpoint = load_checkpoint(source)
    torch.save({key: value for key, value in checkpoint.items() if key not in TRAINING_STATE_KEYS}, target)


def _stage_model(model: TrainedModel, checkpoint: str, staging: Path, onnx: bool, threads: int,
                 int8: bool = False) -> dict[str, Any]:
    """Copy one model's files into ``staging/<model folder name>`` (and its ONNX networks
    with ``onnx``, quantized with ``int8``); return its manifest entry."""
    target = staging / model.folder.name
    target.mkdir()
    for name in MODEL_FILES:
        if (model.folder / name).is_file():
            shutil.copyfile(model.folder / name, target / name)
    for fold in model.folds:
        source, fold_target = fold_folder(model.folder, fold), fold_folder(target, fold)
        fold_target.mkdir()
        _write_prediction_checkpoint(source / CHECKPOINTS[checkpoint], fold_target / CHECKPOINTS[checkpoint])
        for name in (SLICE_CLASSIFIER_FILE, INIT_FROM_JSON):  # the card reads what a fold started from
            if (source / name).is_file():
                shutil.copyfile(source / name, fold_target / name)
    registered = architectures()[model.inputs.architecture]
    entry = {"folder": model.folder.name, "architecture": model.inputs.architecture,
             "distribution": registered.source.distribution, "version": registered.source.version,
             "configuration": model.configuration, "folds": [str(fold) for fold in model.folds],
             "checkpoint": checkpoint}
    if onnx:
        calibration = calibration_tiles(model)[0] if int8 else None
        folds = {str(fold): export_fold(model, fold, target, threads, calibration)
                 for fold in tqdm(model.folds, desc=f"ONNX {model.folder.name}", unit="fold", leave=False)}
        write_json_atomic(target / ONNX_DESCRIPTION_FILE, onnx_description(model, folds))
        entry["onnx"] = {fold: values["max_abs_logit_difference"] for fold, values in folds.items()}
        if int8:
            entry["onnx_int8_dice"] = {fold: values["int8_dice"] for fold, values in folds.items()}
    if model.previous_stage is not None:
        entry["previous_stage"] = model.previous_stage.folder.name
    return entry


def _stage_first_stages(models: Sequence[TrainedModel], checkpoint: str, staging: Path, onnx: bool,
                        threads: int, int8: bool = False) -> None:
    """The first stage of each cascade beside it, where prediction looks for it; not one of
    the archive's models, which prediction would ensemble with the cascade."""
    staged = {model.folder.name for model in models}
    for model in models:
        previous = model.previous_stage
        if previous is not None and previous.folder.name not in staged:
            _stage_model(previous, checkpoint, staging, onnx, threads, int8)
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
                   onnx: bool = False, overwrite: bool = False, threads: int = 1, int8: bool = False) -> dict[str, Any]:
    """Write the chosen folds and checkpoint of ``model_folders`` (with ONNX networks when
    ``onnx``, quantized to int8 when ``int8``) to the zip ``target`` and return its
    manifest. Every model is loaded first, so a model that cannot predict is refused
    before anything is written."""
    target = Path(target)
    if int8 and not onnx:
        raise CovplanError("--int8 quantizes the ONNX networks; give --onnx with it")
    if target.suffix != ARCHIVE_SUFFIX:
        raise CovplanError(f"{target}: an archive's name ends in {ARCHIVE_SUFFIX}; give -o NAME{ARCHIVE_SUFFIX}")
    refuse_existing(target, overwrite)
    refuse_overlap(target, model_folders, output_is_file=True)
    models = [load_model(folder, folds, checkpoint) for folder in model_folders]
    check_models_agree(models)
    if len({model.folder.name for model in models}) < len(models):
        raise CovplanError("two models share a folder name; an archive holds each <arch>__<configuration> once")
    if onnx:
        for model in models:
            refuse_unexportable(model)
    # A full disk or a read-only folder fails in one line naming the archive (torch.save says neither).
    with failures_named(target), \
            tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as temporary:
        staging = Path(temporary)
        entries = [_stage_model(model, checkpoint, staging, onnx, threads, int8) for model in models]
        _stage_first_stages(models, checkpoint, staging, onnx, threads, int8)
        _stage_ensemble_postprocessing([model.folder for model in models], staging)
        manifest = {"format_version": ARCHIVE_FORMAT_VERSION, "covplan_version": __version__,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "intensity_domain": models[0].intensity_domain, "labels": models[0].dataset_json["labels"],
                    "models": entries}
        (staging / MODEL_CARD_FILE).write_text(model_card(manifest, staging))
        manifest["files"] = {path.relative_to(staging).as_posix(): file_sha256(path)
                             for path in sorted(staging.rglob("*")) if path.is_file()}
        write_json_atomic(staging / MANIFEST_FILE, manifest)
        _write_zip(staging, target)
    return manifest
