"""Choosing post-processing on cross-validation predictions, and storing the choice with
the model (``MODEL_DIR/postprocessing.json``).

Candidates are tried greedily in this order, each on the predictions as post-processed by
the rules kept before it, and kept only where it raises the mean Dice of its own class
(the mean over cases, undefined Dice values left out as in ``covplan evaluate``):

1. ``keep_largest`` for each lung label (stray lung fragments go first, so that the lung
   the later rules rely on is clean);
2. ``fill_holes`` for each lung label;
3. ``restrict_to_lung`` for all lesion labels (their mean Dice decides);
4. ``remove_small_components`` for each lesion label, with the size from
   ``DEFAULT_MIN_SIZES_MM3`` (volumes) or ``DEFAULT_MIN_SIZES_MM2`` (slices) that gives the
   highest Dice.

nnU-Net tries only "remove all but the largest component" per label and keeps it unless it
lowers Dice; covplan adds the lesion rules above (COVID lesions are many and small, so a
largest-component rule would delete most of them) and keeps a rule only when it helps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np
from nnunetv2.evaluation.evaluate_predictions import compute_tp_fp_fn_tn
from tqdm import tqdm

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json_if_present
from covplan.labels.files import case_files, file_ending_of, label_map_reader, read_label_map
from covplan.labels.masks import mean_of_defined, metrics_from_counts
from covplan.labels.roles import label_roles
from covplan.postprocessing.rules import apply_postprocessing, check_rule
from covplan.work_folder import ENSEMBLES_FOLDER
from covplan.work_folder import POSTPROCESSING_JSON as POSTPROCESSING_FILE

logger = logging.getLogger(__name__)

DEFAULT_MIN_SIZES_MM3 = (10.0, 50.0, 100.0, 500.0, 1000.0)
DEFAULT_MIN_SIZES_MM2 = (5.0, 10.0, 25.0, 50.0, 100.0)


@dataclass
class _Case:
    case_id: str
    reference: np.ndarray
    prediction: np.ndarray
    spacing: tuple[float, ...]
    ignore_mask: np.ndarray | None


def _load_cases(reference_dir: Path, prediction_dirs: Sequence[Path], dataset_json: Mapping[str, Any],
                ignore_label: int | None) -> list[_Case]:
    file_ending = dataset_json.get("file_ending") or file_ending_of(reference_dir)
    references = case_files(reference_dir, file_ending)
    predictions = {case_id: path for folder in prediction_dirs
                   for case_id, path in case_files(folder, file_ending).items()}
    if not predictions:
        raise CovplanError(f"{', '.join(map(str, prediction_dirs))}: no predictions ending in {file_ending}")
    missing = sorted(set(predictions) - set(references))
    if missing:
        raise CovplanError(f"{predictions[missing[0]]}: no reference {missing[0]}{file_ending} in {reference_dir}")
    reader = label_map_reader(references[next(iter(predictions))], file_ending, dataset_json)
    cases = []
    for case_id in tqdm(sorted(predictions), desc="read predictions", unit="case", disable=len(predictions) < 2):
        reference, spacing = read_label_map(reader, references[case_id])
        prediction, _ = read_label_map(reader, predictions[case_id])
        if reference.shape != prediction.shape:
            raise CovplanError(f"{predictions[case_id]}: shape {prediction.shape} differs from its reference "
                               f"{references[case_id]} {reference.shape}")
        ignore_mask = reference == ignore_label if ignore_label is not None else None
        # Label maps are held in memory for the whole search: one byte per voxel.
        cases.append(_Case(case_id, reference.astype(np.uint8), prediction.astype(np.uint8), spacing, ignore_mask))
    return cases


def _mean_dice(cases: Sequence[_Case], predictions: Sequence[np.ndarray], labels: Sequence[int]
               ) -> dict[int, float | None]:
    result = {}
    for label in labels:
        counts = (compute_tp_fp_fn_tn(case.reference == label, prediction == label, case.ignore_mask)
                  for case, prediction in zip(cases, predictions))
        result[label] = mean_of_defined(metrics_from_counts(*case_counts)["Dice"] for case_counts in counts)
    return result


def _class_score(dice: Mapping[int, float | None], labels: Sequence[int]) -> float | None:
    return mean_of_defined(dice[label] for label in labels)


def _candidates(lung_labels: Sequence[int], lesion_labels: Sequence[int], min_sizes: Sequence[float], unit: str
                ) -> list[tuple[list[dict[str, Any]], list[int]]]:
    """(alternatives, the labels whose Dice decides) in the greedy order of the module docstring."""
    steps = [([{"rule": "keep_largest", "label": label}], [label]) for label in lung_labels]
    steps += [([{"rule": "fill_holes", "label": label}], [label]) for label in lung_labels]
    if lung_labels and lesion_labels:
        steps.append(([{"rule": "restrict_to_lung", "lesion_labels": list(lesion_labels),
                        "lung_labels": list(lung_labels)}], list(lesion_labels)))
    steps += [([{"rule": "remove_small_components", "label": label, f"min_size_{unit}": size} for size in min_sizes],
               [label]) for label in lesion_labels]
    return steps


def choose_postprocessing(reference_dir: Path, prediction_dir: Path | Sequence[Path], dataset_json: Mapping[str, Any],
                          min_sizes: Sequence[float] | None = None) -> dict[str, Any]:
    """Try the candidate rules on the predictions in ``prediction_dir`` (one folder, or
    several such as the validation folders of all folds) against ``reference_dir``; return
    ``{"rules": [...], "dice_before": {...}, "dice_after": {...}, "tried": [...]}`` with the
    per-label mean Dice (keys: label values as strings, as in summary.json) before and after
    the kept rules, and every candidate with its class Dice before and after and whether it
    was kept. ``min_sizes`` replaces the sizes tried for small-component removal."""
    single_folder = isinstance(prediction_dir, (str, Path))
    prediction_dirs = [Path(prediction_dir)] if single_folder else [Path(folder) for folder in prediction_dir]
    roles = label_roles(dataset_json)
    if roles.regions:
        # The rules act on exclusive labels (a lung label, lesion labels written over it);
        # a region-based map paints overlapping regions, which they would take apart.
        logger.info("region-based labels: no post-processing rule is tried")
        return {"rules": [], "dice_before": {}, "dice_after": {}, "names": {}, "cases": [], "tried": [],
                "note": "region-based labels: covplan's post-processing rules work on exclusive labels only"}
    cases = _load_cases(Path(reference_dir), prediction_dirs, dataset_json, roles.ignore_label)
    two_dimensional = all(case.reference.shape[0] == 1 for case in cases)
    unit = "mm2" if two_dimensional else "mm3"
    if min_sizes is None:
        min_sizes = DEFAULT_MIN_SIZES_MM2 if two_dimensional else DEFAULT_MIN_SIZES_MM3
    labels = list(roles.foreground_labels)
    current = [case.prediction for case in cases]
    dice_before = _mean_dice(cases, current, labels)
    dice_now = dict(dice_before)
    kept, tried = [], []
    for alternatives, decisive_labels in _candidates(roles.lung_labels, roles.lesion_labels, min_sizes, unit):
        score_before = _class_score(dice_now, decisive_labels)
        best = None
        for rule in alternatives:
            processed = [apply_postprocessing(prediction, [rule], case.spacing)
                         for case, prediction in zip(cases, current)]
            dice = _mean_dice(cases, processed, labels)
            score = _class_score(dice, decisive_labels)
            tried.append({"rule": rule, "dice_before": score_before, "dice_after": score, "kept": False})
            if score is not None and (best is None or score > best[0]):
                best = (score, rule, processed, dice, len(tried) - 1)
        if best is not None and score_before is not None and best[0] > score_before:
            _, rule, current, dice_now, index = best
            tried[index]["kept"] = True
            kept.append(rule)
            logger.info("keeping %s: Dice %.4f -> %.4f", rule, score_before, best[0])
    return {"rules": kept, "dice_before": {str(label): value for label, value in dice_before.items()},
            "dice_after": {str(label): value for label, value in dice_now.items()},
            "names": {str(label): name for label, name in roles.names.items()},
            "cases": [case.case_id for case in cases], "tried": tried}


def save_postprocessing(choice: Mapping[str, Any], model_dir: Path) -> Path:
    """Write ``choice`` as ``model_dir/postprocessing.json`` (atomically); returns the path."""
    for rule in choice["rules"]:
        check_rule(rule)
    target = Path(model_dir) / POSTPROCESSING_FILE
    write_json_atomic(target, choice)
    return target


def load_postprocessing(model_dir: Path) -> dict[str, Any]:
    """The post-processing stored with a model; ``{"rules": []}`` when none was chosen."""
    path = Path(model_dir) / POSTPROCESSING_FILE
    choice = read_json_if_present(path, "run covplan find-best again")
    if choice is None:
        return {"rules": []}
    if not isinstance(choice, dict) or not isinstance(choice.get("rules"), list):
        raise CovplanError(f"{path}: no 'rules' list; run covplan find-best again")
    for rule in choice["rules"]:
        try:
            check_rule(rule)
        except CovplanError as error:
            raise CovplanError(f"{path}: {error}") from error
    return choice


def postprocessing_folder(model_folders: Sequence[Path]) -> Path | None:
    """Where ``covplan find-best`` stores the post-processing of these models: a single
    model's own folder; for an ensemble, its folder under the work folder's
    ``ensembles/`` (members joined by ``+``, in either order), None when there is none."""
    folders = [Path(folder) for folder in model_folders]
    if len(folders) == 1:
        return folders[0]
    ensembles = folders[0].parent / ENSEMBLES_FOLDER
    return next((candidate for order in permutations(folders)
                 if (candidate := ensembles / "+".join(folder.name for folder in order)).is_dir()), None)


def postprocessing_for_models(model_folders: Sequence[Path]) -> list[dict[str, Any]]:
    """The rules ``covplan find-best`` stored for these models (see
    :func:`postprocessing_folder`); no rules when find-best chose none or never ran for
    this combination."""
    folder = postprocessing_folder(model_folders)
    return load_postprocessing(folder)["rules"] if folder is not None else []
