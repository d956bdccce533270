"""``MODEL_CARD.md`` of an archive: what the models are, what they were trained on, how well
they did in cross-validation and what they need to run, read from the files the archive
carries (so the card and the archive cannot disagree)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from covplan.json_files import read_json_if_present
from covplan.postprocessing.choose import POSTPROCESSING_FILE
from covplan.work_folder import (
    COVPLAN_DATASET_JSON,
    CV_SUMMARY_JSON,
    DATASET_JSON,
    INIT_FROM_JSON,
    MODEL_PLANS_JSON,
    fold_folder,
)


def _read(path: Path) -> dict[str, Any]:
    return read_json_if_present(path, "train or evaluate the model again") or {}


def _training_data(folder: Path) -> list[str]:
    dataset = _read(folder / DATASET_JSON)
    plans = _read(folder / MODEL_PLANS_JSON)
    domain = _read(folder / COVPLAN_DATASET_JSON).get("intensity_domain", "unknown")
    spacing = plans.get("original_median_spacing_after_transp")
    shape = plans.get("original_median_shape_after_transp")
    lines = [f"- Dataset: {plans.get('dataset_name', '?')}, {dataset.get('numTraining', '?')} training cases, "
             f"channels {', '.join(dataset.get('channel_names', {}).values())}, intensity domain {domain}"]
    if spacing and shape:
        lines.append(f"- Median spacing {' x '.join(f'{value:g}' for value in spacing)} mm, median shape "
                     f"{' x '.join(str(round(value)) for value in shape)} voxels (z, y, x)")
    return lines


def _initialisation(folder: Path, folds: list[str]) -> list[str]:
    """What each fold started from: random weights, or a trained model (``--init-from``)."""
    lines = []
    for fold in folds:
        record = _read(fold_folder(folder, fold) / INIT_FROM_JSON)
        if record:
            source = record["source"]
            lines.append(f"- Fold {fold} started from {source['origin']} ({source['model_folder']} fold "
                         f"{source['fold']}, trained on {source['source_dataset']}; checkpoint sha256 "
                         f"{record['checkpoint_sha256'][:16]}...): {record['tensors_loaded']} tensors loaded, "
                         f"{record['tensors_skipped']} left at their initialisation; output heads {record['heads']}")
    return lines or ["- Trained from random weights"]


def _cross_validation(folder: Path) -> list[str]:
    summary = _read(folder / CV_SUMMARY_JSON)
    if not summary.get("folds"):
        return ["- No cross-validation summary (`covplan train` writes cv_summary.json)."]
    classes = summary["classes"]
    lines = [f"| fold | {' | '.join(classes)} |", f"|---|{'---|' * len(classes)}"]
    for fold, values in [*summary["folds"].items(), ("mean", summary.get("mean", {}))]:
        cells = [f"{values[name]:.3f}" if values.get(name) is not None else "-" for name in classes]
        lines.append(f"| {fold} | {' | '.join(cells)} |")
    return [f"{summary.get('metric', 'Dice')} on each fold's held-out cases:", "", *lines]


def model_card(manifest: dict[str, Any], root: Path) -> str:
    """The card for the archive whose staged files lie under ``root``."""
    labels = ", ".join(f"{value} {name}" for name, value in manifest["labels"].items())
    lines = ["# covplan model card", "",
             f"Exported {manifest['created']} with covplan {manifest['covplan_version']} "
             f"(archive format {manifest['format_version']}).", "",
             f"- Labels: {labels}", f"- Input intensity domain: {manifest['intensity_domain'] or 'unknown'}",
             f"- Members: {sum(len(entry['folds']) for entry in manifest['models'])} networks "
             f"({len(manifest['models'])} model(s)); their probabilities are averaged", ""]
    for entry in manifest["models"]:
        folder = root / entry["folder"]
        rules = _read(folder / POSTPROCESSING_FILE).get("rules", [])
        lines += [f"## {entry['folder']}", "",
                  f"- Architecture: {entry['architecture']} from {entry['distribution']} {entry['version']}",
                  f"- Configuration {entry['configuration']}, folds {', '.join(entry['folds'])}, "
                  f"checkpoint {entry['checkpoint']}",
                  *_training_data(folder),
                  *_initialisation(folder, entry["folds"]),
                  f"- Post-processing chosen by find-best: {json.dumps(rules) if rules else 'none'}"]
        if "previous_stage" in entry:
            lines.append(f"- Cascade: each image is first segmented by {entry['previous_stage']} (in this archive), "
                         f"whose labels are this model's extra input channels")
        if "onnx" in entry:
            differences = ", ".join(f"fold {fold} {value:.2g}" for fold, value in entry["onnx"].items())
            lines.append(f"- ONNX networks; largest absolute logit difference to torch: {differences}")
        if "onnx_int8_dice" in entry:
            agreement = "; ".join(f"fold {fold} " + ", ".join(f"{name} {value:.4f}" for name, value in dice.items())
                                  for fold, dice in entry["onnx_int8_dice"].items())
            lines.append(f"- ONNX networks quantized to int8 (static, QDQ, calibrated on training cases); Dice of "
                         f"their labels against float32's: {agreement}")
        lines += ["", *_cross_validation(folder), ""]
    return "\n".join(lines)
