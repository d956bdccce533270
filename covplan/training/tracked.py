"""What a fold's training reports to the selected trackers (:mod:`covplan.tracking`): its
description and parameters at the start, the training log's row every epoch, the time
budget's measurement, and at the end the validation Dice and the files it wrote."""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

from covplan.tracking import RunDescription, Tracking
from covplan.tracking.base import ParamValue, flatten_params
from covplan.training.fold_validation import fold_dice
from covplan.training.run_state import provenance
from covplan.work_folder import (
    FOLD_TIME_JSON,
    MODEL_PLANS_JSON,
    PROGRESS_PNG,
    SUMMARY_JSON,
    TRAINING_LOG_CSV,
    VALIDATION_FOLDER,
)

# The files of a fold folder a tracker keeps with the run, where they exist.
FOLD_ARTIFACTS = (TRAINING_LOG_CSV, PROGRESS_PNG, FOLD_TIME_JSON, f"{VALIDATION_FOLDER}/{SUMMARY_JSON}")


def fold_run(trainer) -> RunDescription:
    """A :class:`~covplan.training.Trainer`'s run: plans (the trained configuration),
    settings, architecture and loss with their distributions and versions, and a summary
    of the dataset fingerprint."""
    inputs = trainer.inputs
    plans = {"plans_name": inputs.plans.get("plans_name"), "configuration": inputs.configuration, **inputs.plan}
    params = {**flatten_params(provenance(inputs.architecture, trainer.loss_name)), **flatten_params(plans, "plans."),
              **flatten_params(trainer.settings.record(), "settings."), "fold": str(trainer.fold),
              **flatten_params(fingerprint_summary(inputs.fingerprint), "fingerprint.")}
    return RunDescription(name=f"{inputs.model_folder.name} fold {trainer.fold}", kind="fold",
                          experiment=inputs.plans.get("dataset_name") or inputs.work.name,
                          folder=trainer.output_folder, work=inputs.work, params=params)


def fingerprint_summary(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Cases, median spacing and shape, and the foreground intensities per channel of an
    nnU-Net dataset fingerprint (the whole of it is in the model folder)."""
    spacings, shapes = fingerprint.get("spacings", []), fingerprint.get("shapes_after_crop", [])
    summary: dict[str, Any] = {"cases": len(spacings)}
    if spacings:
        summary["median_spacing"] = [round(median(axis), 4) for axis in zip(*spacings)]
    if shapes:
        summary["median_shape"] = [median(axis) for axis in zip(*shapes)]
    for channel, properties in fingerprint.get("foreground_intensity_properties_per_channel", {}).items():
        summary[f"intensity_{channel}"] = {key: round(float(properties[key]), 4)
                                           for key in ("mean", "std", "percentile_00_5", "percentile_99_5")
                                           if key in properties}
    return summary


def budget_params(budget_state: dict[str, Any]) -> dict[str, ParamValue]:
    """The time budget, the throughput the probe measured and the schedule fitted to it."""
    return flatten_params(budget_state, "budget.")


def epoch_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The training log's row as metrics: every numeric column but the epoch (the step)."""
    return {key: float(value) for key, value in row.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def report_fold_end(tracking: Tracking, fold_folder: Path, summary: dict[str, Any] | None) -> None:
    """The validation Dice per class (``validation_dice_<class>``, and the foreground
    mean), the full plans and the fold's files."""
    if summary is not None:
        dice = {f"validation_dice_{name}": value for name, value in fold_dice(summary).items() if value is not None}
        foreground = summary.get("foreground_mean", {}).get("Dice")
        tracking.log_metrics({**dice, **({} if foreground is None else {"validation_dice_foreground": foreground})})
    tracking.log_artifacts([fold_folder.parent / MODEL_PLANS_JSON, *(fold_folder / name for name in FOLD_ARTIFACTS)])
