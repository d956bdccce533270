"""The final validation of a fold: its validation cases predicted in full with nnU-Net's
sliding-window predictor and scored by ``covplan.evaluation``, the time the fold took; and
the cross-validation summary over the folds of a model folder."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from nnunetv2.evaluation.evaluate_predictions import label_or_region_to_key
from torch import nn
from tqdm import tqdm

from covplan.architectures.base import get_architecture
from covplan.architectures.inference import FullResolutionOutput
from covplan.atomic import atomic_directory, write_json_atomic
from covplan.evaluation import evaluate_folder
from covplan.evaluation.cross_validation import fold_summaries
from covplan.json_files import read_json_if_present
from covplan.nnunet_paths import nnunet_prints_to_log
from covplan.training.inputs import TrainingInputs
from covplan.work_folder import (
    CV_SUMMARY_JSON,
    FOLD_TIME_JSON,
    NEXT_STAGE_FOLDER,
    SUMMARY_JSON,
    fold_folder,
    gt_folder,
    validation_folder,
)

logger = logging.getLogger(__name__)


def evaluate_fold(network: nn.Module, inputs: TrainingInputs, validation_ids: list[str], fold_folder: Path,
                  device: torch.device, mirror_axes: tuple[int, ...], use_mirroring: bool = True) -> dict[str, Any]:
    """Predict ``validation_ids`` with sliding windows (Gaussian weighting, half-patch
    overlap, mirroring along ``mirror_axes`` unless ``use_mirroring`` is false), export
    them on the original grid to ``fold_folder/validation/`` and score them there with
    :func:`covplan.evaluation.evaluate_folder` (nnU-Net's ``summary.json`` plus IoU,
    sensitivity, specificity, precision and the merged lung and infection regions).

    A cascade's first stage also writes them on its next stage's grid to
    ``<model folder>/predicted_next_stage/<next stage>/`` (nnU-Net's
    ``perform_actual_validation``), the next stage's training input; a second stage reads
    its first stage's there."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

    # nnunetv2 (2.8.1) prints "perform_everything_on_device=True is only supported for cuda
    # devices!" for every non-CUDA device, whatever perform_everything_on_device says: no
    # argument silences it, so its prints go to the debug log as covplan's other nnU-Net calls do.
    with nnunet_prints_to_log(logger, "predictor"):
        predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=use_mirroring,
                                    perform_everything_on_device=device.type == "cuda", device=device,
                                    allow_tqdm=False)
    # The plugin's prediction form of the network (e.g. batch norm folded in), as `covplan predict` runs it.
    inference_network = get_architecture(inputs.architecture).inference_network(network.eval())
    predictor.manual_initialization(FullResolutionOutput(inference_network).eval(), inputs.plans_manager,
                                    inputs.configuration_manager, None, inputs.dataset_json, "covplan", mirror_axes)
    previous_stage = str(inputs.previous_stage_predictions) if inputs.previous_stage is not None else None
    dataset = infer_dataset_class(str(inputs.preprocessed_folder))(str(inputs.preprocessed_folder), validation_ids,
                                                                   previous_stage)
    next_stages = _next_stage_writers(inputs, fold_folder)
    with atomic_directory(validation_folder(fold_folder), overwrite=True) as folder:
        for identifier in tqdm(validation_ids, desc=f"validating {fold_folder.name}", unit="case"):
            data, _, segmentation_before, properties = dataset.load_case(identifier)
            data = data[:]
            if previous_stage is not None:
                one_hot = convert_labelmap_to_one_hot(segmentation_before[:], inputs.label_manager.foreground_labels,
                                                      output_dtype=data.dtype)
                data = np.vstack((data, one_hot))
            logits = predictor.predict_sliding_window_return_logits(torch.from_numpy(data)).cpu()
            export_prediction_from_logits(logits, properties, inputs.configuration_manager,
                                          inputs.plans_manager, inputs.dataset_json, str(folder / identifier))
            for write in next_stages:
                write(logits, properties, identifier)
        # One process: a fold's few cases do not repay starting workers.
        summary = evaluate_folder(gt_folder(inputs.work), folder, folder / SUMMARY_JSON,
                                  dataset_json=inputs.dataset_json, num_processes=1, allow_missing_predictions=True)
    logger.info("%s: mean foreground Dice %s", fold_folder, summary["foreground_mean"]["Dice"])
    return summary


def _next_stage_writers(inputs: TrainingInputs, fold_folder: Path) -> list[Callable[[torch.Tensor, dict, str], None]]:
    """For each next stage of the configuration, a function that writes a case's
    prediction (its logits) on that stage's preprocessed grid with nnU-Net's
    ``resample_and_save``. Only numbered folds write them: fold ``all`` validates on its
    own training cases, and those in-sample segmentations would teach the next stage to
    trust its input more than a prediction of an unseen case deserves (nnU-Net lets them
    overwrite the cross-validation ones)."""
    if fold_folder == inputs.fold_folder("all"):
        return []
    writers = []
    for stage in inputs.next_stages:
        configuration = inputs.plans_manager.get_configuration(stage)
        data_folder = inputs.work / configuration.data_identifier
        if not data_folder.is_dir():
            logger.warning("%s: no preprocessed data of %s, so no predictions for it; preprocess it with `covplan "
                           "preprocess %s -a %s -c %s` and train this fold again", data_folder, stage, inputs.work,
                           inputs.architecture, stage)
            continue
        output = inputs.model_folder / NEXT_STAGE_FOLDER / stage
        output.mkdir(parents=True, exist_ok=True)
        writers.append(partial(_write_for_next_stage, inputs=inputs, data_folder=data_folder, output=output))
    return writers


def _write_for_next_stage(logits: torch.Tensor, properties: dict, identifier: str, inputs: TrainingInputs,
                          data_folder: Path, output: Path) -> None:
    from nnunetv2.inference.export_prediction import resample_and_save
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    dataset_class = infer_dataset_class(str(data_folder))
    shape = dataset_class(str(data_folder), [identifier]).load_case(identifier)[0].shape[1:]
    ending = ".b2nd" if dataset_class.__name__.endswith("Blosc2") else ".npz"
    # Written under a temporary name and renamed: a killed run leaves no half file that
    # the next stage would read.
    temporary = output / f".{identifier}.partial"
    resample_and_save(logits, list(shape), str(temporary), inputs.plans_manager, inputs.configuration_manager,
                      properties, inputs.dataset_json, 1, dataset_class)
    Path(f"{temporary}{ending}").replace(output / f"{identifier}{ending}")




def write_fold_time(fold_folder: Path, training_s: float, total_s: float, history: list[dict[str, Any]],
                    budget: dict[str, Any] | None) -> None:
    """``fold_F/fold_time.json``: what the fold's run took (training, and with its
    validation), its epochs, steps and last learning rate, and the time budget with the
    measured throughput and chosen schedule when it had one."""
    record = {"training_s": round(training_s, 1), "total_s": round(total_s, 1), "epochs": len(history),
              "steps": sum(int(row.get("iterations") or 0) for row in history),
              "last_lr": history[-1]["lr"] if history else None, "budget": budget}
    write_json_atomic(fold_folder / FOLD_TIME_JSON, record)


def fold_dice(summary: dict[str, Any]) -> dict[str, float | None]:
    """Class (and merged region) name -> Dice of one evaluation summary with nnU-Net's
    key types (labels as int, regions as tuples): labels first, then regions."""
    names = summary.get("names", {})
    keys = sorted(summary["mean"], key=lambda key: (isinstance(key, tuple), key if isinstance(key, int) else 0))
    return {names.get(label_or_region_to_key(key), str(key)): summary["mean"][key]["Dice"] for key in keys}


def cross_validation_summary(model_folder: Path) -> dict[str, Any]:
    """Dice per class and merged region of every cross-validation fold in
    ``model_folder`` and their mean over folds, the way method A's Table 1 averages its
    folds (``covplan.evaluation.cross_validation_table`` pools the cases instead, as
    nnU-Net does); written to ``model_folder/cv_summary.json``."""
    folds = {str(fold): fold_dice(summary) for fold, summary in fold_summaries(model_folder).items()}
    classes = list(dict.fromkeys(name for dice in folds.values() for name in dice))
    mean = {name: _mean_of_defined([dice.get(name) for dice in folds.values()]) for name in classes}
    result = {"metric": "Dice", "classes": classes, "folds": folds, "mean": mean,
              "minutes": {fold: _fold_minutes(fold_folder(model_folder, fold)) for fold in folds}}
    write_json_atomic(model_folder / CV_SUMMARY_JSON, result)
    return result


def _fold_minutes(fold_folder: Path) -> dict[str, float | None] | None:
    """Minutes the fold used, and its budget: what the CV table shows beside the Dice."""
    path = fold_folder / FOLD_TIME_JSON
    record = read_json_if_present(path, "train the fold again with --resume")
    if record is None:
        return None
    budget = record.get("budget")
    return {"used": round(record["total_s"] / 60, 2), "budget": round(budget["budget_s"] / 60, 2) if budget else None}


def _mean_of_defined(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else None


def format_cross_validation_table(summary: dict[str, Any], title: str = "") -> str:
    """A plain-text table of :func:`cross_validation_summary`'s result: one row per fold
    and the mean (when there is one), one column per class."""
    classes = summary["classes"]
    width = max([12, *(len(name) + 2 for name in classes)])
    minutes = summary.get("minutes") or {}
    timed = any(minutes.values())
    lines = [title] if title else []
    lines.append("fold".ljust(8) + "".join(f"Dice {name}".rjust(width + 5) for name in classes)
                 + ("minutes used / budget".rjust(24) if timed else ""))
    rows = list(summary["folds"].items()) + ([("mean", summary["mean"])] if summary.get("mean") else [])
    for fold, dice in rows:
        time_cell = _minutes_cell(minutes.get(fold)).rjust(24) if timed else ""
        lines.append(str(fold).ljust(8) + "".join(_cell(dice.get(name)).rjust(width + 5) for name in classes)
                     + time_cell)
    return "\n".join(lines)


def _minutes_cell(minutes: dict[str, float | None] | None) -> str:
    if not minutes:
        return ""
    budget = "-" if minutes["budget"] is None else f"{minutes['budget']:.1f}"
    return f"{minutes['used']:.1f} / {budget}"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
