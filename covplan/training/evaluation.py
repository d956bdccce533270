"""Fold-wise evaluation: the fold's validation cases predicted in full with nnU-Net's
sliding-window predictor and scored by ``covplan.evaluation``; a cross-validation summary
over folds."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from covplan.atomic import atomic_directory, atomic_file
from covplan.evaluation import evaluate_folder
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


def evaluate_fold(network: nn.Module, inputs: TrainingInputs, validation_ids: list[str], fold_folder: Path,
                  device: torch.device, mirror_axes: tuple[int, ...], use_mirroring: bool = True) -> dict[str, Any]:
    """Predict ``validation_ids`` with sliding windows (Gaussian weighting, half-patch
    overlap, mirroring along ``mirror_axes`` unless ``use_mirroring`` is false), export
    them on the original grid to ``fold_folder/validation/`` and score them there with
    :func:`covplan.evaluation.evaluate_folder` (nnU-Net's ``summary.json`` plus IoU,
    sensitivity, specificity, precision and the merged lung and infection regions)."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=use_mirroring,
                                perform_everything_on_device=device.type == "cuda", device=device, allow_tqdm=False)
    predictor.manual_initialization(FullResolutionOutput(network).eval(), inputs.plans_manager,
                                    inputs.configuration_manager, None, inputs.dataset_json, "covplan", mirror_axes)
    dataset = infer_dataset_class(str(inputs.preprocessed_folder))(str(inputs.preprocessed_folder), validation_ids)
    with atomic_directory(fold_folder / "validation", overwrite=True) as folder:
        for identifier in tqdm(validation_ids, desc=f"validating {fold_folder.name}", unit="case"):
            data, _, _, properties = dataset.load_case(identifier)
            logits = predictor.predict_sliding_window_return_logits(torch.from_numpy(data[:]))
            export_prediction_from_logits(logits.cpu(), properties, inputs.configuration_manager,
                                          inputs.plans_manager, inputs.dataset_json, str(folder / identifier))
        # One process: a fold's few cases do not repay starting workers.
        summary = evaluate_folder(inputs.work / "gt_segmentations", folder, folder / "summary.json",
                                  dataset_json=inputs.dataset_json, num_processes=1, allow_missing_predictions=True)
    logger.info("%s: mean foreground Dice %s", fold_folder, summary["foreground_mean"]["Dice"])
    return summary


def cross_validation_summary(model_folder: Path) -> dict[str, Any]:
    """Dice per class and merged region of every evaluated fold in ``model_folder`` and
    their mean; written to ``model_folder/cv_summary.json``. Fold ``all`` (trained and
    validated on every case) is reported beside the folds, never in their mean."""
    folds: dict[str, dict[str, float | None]] = {}
    classes: list[str] = []
    for summary_file in sorted(model_folder.glob("fold_*/validation/summary.json")):
        summary = json.loads(summary_file.read_text())
        names = summary["names"]
        # summary.json sorts its keys, which puts "(1, 2)" before "1": labels first, then regions.
        ordered = sorted(names, key=lambda key: (not key.isdigit(), int(key) if key.isdigit() else 0))
        classes += [names[key] for key in ordered if names[key] not in classes]
        folds[summary_file.parent.parent.name.removeprefix("fold_")] = {
            names[key]: means["Dice"] for key, means in summary["mean"].items()}
    all_cases = folds.pop("all", None)
    mean = {name: _mean_of_defined([fold.get(name) for fold in folds.values()]) for name in classes}
    result = {"metric": "Dice", "classes": classes, "folds": folds, "mean": mean, "all": all_cases}
    with atomic_file(model_folder / "cv_summary.json") as temporary:
        temporary.write_text(json.dumps(result, indent=2))
    return result


def _mean_of_defined(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else None


def format_cross_validation_table(summary: dict[str, Any], title: str = "") -> str:
    """A plain-text table: one row per fold, the mean and fold ``all``; one column per class."""
    classes = summary["classes"]
    width = max([12, *(len(name) + 2 for name in classes)])
    lines = [title] if title else []
    lines.append("fold".ljust(8) + "".join(f"Dice {name}".rjust(width + 5) for name in classes))
    rows = list(summary["folds"].items()) + ([("mean", summary["mean"])] if summary["folds"] else [])
    for fold, dice in rows + ([("all", summary["all"])] if summary.get("all") else []):
        lines.append(str(fold).ljust(8) + "".join(_cell(dice.get(name)).rjust(width + 5) for name in classes))
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
