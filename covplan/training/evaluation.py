"""Fold-wise evaluation: the fold's validation cases predicted in full with nnU-Net's
sliding-window predictor, scored with nnU-Net's metrics; a cross-validation summary over
folds."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from covplan.training.work_folder import TrainingInputs

logger = logging.getLogger(__name__)


class FullResolutionOutput(nn.Module):
    """The first (full-resolution) output of a network with several, the form nnU-Net's
    predictor takes."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.network(x)
        return output[0] if isinstance(output, (list, tuple)) else output


def add_rates(summary: dict[str, Any]) -> dict[str, Any]:
    """nnU-Net's summary extended with sensitivity, specificity and precision per class,
    per case and as class means (NaN where undefined, as nnU-Net does for Dice)."""
    def rates(metrics: dict[str, float]) -> dict[str, float]:
        tp, fp, fn, tn = (metrics[key] for key in ("TP", "FP", "FN", "TN"))
        return {"Sensitivity": tp / (tp + fn) if tp + fn else math.nan,
                "Specificity": tn / (tn + fp) if tn + fp else math.nan,
                "Precision": tp / (tp + fp) if tp + fp else math.nan}

    for case in summary["metric_per_case"]:
        for metrics in case["metrics"].values():
            metrics.update(rates(metrics))
    for label, means in summary["mean"].items():
        for name in ("Sensitivity", "Specificity", "Precision"):
            values = [case["metrics"][label][name] for case in summary["metric_per_case"]]
            finite = [value for value in values if not math.isnan(value)]
            means[name] = sum(finite) / len(finite) if finite else math.nan
    for name in ("Sensitivity", "Specificity", "Precision"):
        per_class = [summary["mean"][label][name] for label in summary["mean"]]
        summary["foreground_mean"][name] = sum(per_class) / len(per_class)
    return summary


def evaluate_fold(network: nn.Module, inputs: TrainingInputs, validation_ids: list[str], fold_folder: Path,
                  device: torch.device, mirror_axes: tuple[int, ...], use_mirroring: bool = True) -> dict[str, Any]:
    """Predict ``validation_ids`` with sliding windows (Gaussian weighting, half-patch
    overlap, mirroring along ``mirror_axes`` unless ``use_mirroring`` is false), export
    them on the original grid to ``fold_folder/validation/`` and write nnU-Net's ``summary.json`` there, extended by :func:`add_rates`."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder, save_summary_json
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=use_mirroring,
                                perform_everything_on_device=device.type == "cuda", device=device, allow_tqdm=False)
    predictor.manual_initialization(FullResolutionOutput(network).eval(), inputs.plans_manager,
                                    inputs.configuration_manager, None, inputs.dataset_json, "covplan", mirror_axes)
    temporary = fold_folder / ".validation.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    dataset = infer_dataset_class(str(inputs.preprocessed_folder))(str(inputs.preprocessed_folder), validation_ids)
    for identifier in tqdm(validation_ids, desc=f"validating {fold_folder.name}", unit="case"):
        data, _, _, properties = dataset.load_case(identifier)
        logits = predictor.predict_sliding_window_return_logits(torch.from_numpy(data[:]))
        export_prediction_from_logits(logits.cpu(), properties, inputs.configuration_manager, inputs.plans_manager,
                                      inputs.dataset_json, str(temporary / identifier))
    labels = inputs.label_manager
    summary = compute_metrics_on_folder(
        str(inputs.work / "gt_segmentations"), str(temporary), None, inputs.plans_manager.image_reader_writer_class(),
        inputs.dataset_json["file_ending"], labels.foreground_regions if labels.has_regions else labels.foreground_labels,
        labels.ignore_label, num_processes=1)
    save_summary_json(add_rates(summary), str(temporary / "summary.json"))
    target = fold_folder / "validation"
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)
    logger.info("%s: mean foreground Dice %.4f", fold_folder, summary["foreground_mean"]["Dice"])
    return summary


def class_names(dataset_json: dict[str, Any]) -> dict[str, str]:
    """Foreground label value (as summary.json writes it) -> class name."""
    return {str(value): name for name, value in dataset_json["labels"].items()
            if name != "ignore" and str(value) != "0"}


def cross_validation_summary(model_folder: Path) -> dict[str, Any]:
    """Dice per class of every evaluated fold in ``model_folder`` and their mean; written
    to ``model_folder/cv_summary.json``."""
    names = class_names(json.loads((model_folder / "dataset.json").read_text()))
    folds = {}
    for summary_file in sorted(model_folder.glob("fold_*/validation/summary.json")):
        means = json.loads(summary_file.read_text())["mean"]
        folds[summary_file.parent.parent.name.removeprefix("fold_")] = {
            name: means[label]["Dice"] for label, name in names.items() if label in means}
    mean = {name: _nanmean([fold[name] for fold in folds.values() if name in fold]) for name in names.values()}
    result = {"metric": "Dice", "classes": list(names.values()), "folds": folds, "mean": mean}
    (model_folder / "cv_summary.json").write_text(json.dumps(result, indent=2))
    return result


def _nanmean(values: list[float]) -> float:
    finite = [value for value in values if value is not None and not math.isnan(value)]
    return sum(finite) / len(finite) if finite else math.nan


def format_cross_validation_table(summary: dict[str, Any], title: str = "") -> str:
    """A plain-text table: one row per fold and the mean, one column per class."""
    classes = summary["classes"]
    width = max([12, *(len(name) + 2 for name in classes)])
    lines = [title] if title else []
    lines.append("fold".ljust(8) + "".join(f"Dice {name}".rjust(width + 5) for name in classes))
    for fold, dice in [*summary["folds"].items(), ("mean", summary["mean"])]:
        lines.append(str(fold).ljust(8) + "".join(f"{dice.get(name, math.nan):.4f}".rjust(width + 5) for name in classes))
    return "\n".join(lines)
