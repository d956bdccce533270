"""``covplan find-best``: rank the trained models of a work folder and their ensembles by
cross-validation Dice, choose post-processing for the best one and store it with it.

The winner is chosen by mean, as nnU-Net's ``find_best_configuration`` chooses it; beside
it the result says whether it beats the runner-up significantly (paired Wilcoxon test on
the per-case foreground Dice of the cases both scored, with a bootstrap confidence
interval of the mean difference: :mod:`covplan.evaluation.paired_statistics`), so that a
lead of 0.01 on a few cases is not read as a better model."""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from nnunetv2.ensembling.ensemble import merge_files
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from tqdm import tqdm

from covplan.atomic import atomic_directory, write_json_atomic
from covplan.errors import CovplanError
from covplan.evaluation.cross_validation import fold_dirs, fold_summaries, model_dirs, pooled_summary
from covplan.evaluation.evaluate import DEFAULT_PROCESSES, evaluate_folder, foreground_mean
from covplan.evaluation.paired_statistics import ALPHA, paired_difference
from covplan.json_files import read_json, read_json_if_present
from covplan.labels.roles import load_dataset_json
from covplan.postprocessing import choose_postprocessing, save_postprocessing
from covplan.tracking import RunDescription, Tracking
from covplan.work_folder import (
    DATASET_JSON,
    ENSEMBLES_FOLDER,
    FIND_BEST_JSON,
    MODEL_PLANS_JSON,
    SUMMARY_JSON,
    gt_folder,
    seed_works,
    validation_folder,
)

logger = logging.getLogger(__name__)

NO_ENSEMBLE_NOTE = ("ensembles need saved validation probabilities (.npz files, as nnU-Net writes them with --npz) "
                    "in every fold of at least two models")


def _candidate(name: str, kind: str, folder: Path, members: list[str], prediction_dirs: list[Path],
               summary: dict[str, Any]) -> dict[str, Any]:
    names = summary.get("names", {})
    return {"name": name, "kind": kind, "folder": str(folder), "members": members,
            "prediction_dirs": [str(path) for path in prediction_dirs],
            "foreground_dice": summary["foreground_mean"]["Dice"],
            "dice": {names.get(str(key), str(key)): means["Dice"] for key, means in summary["mean"].items()},
            "foreground_dice_per_case": foreground_dice_per_case(summary)}


def foreground_dice_per_case(summary: dict[str, Any]) -> dict[str, float]:
    """Case id -> the foreground mean Dice of the case, for the cases where it is defined."""
    values = {case["case_id"]: foreground_mean(case["metrics"])["Dice"] for case in summary["metric_per_case"]}
    return {case: value for case, value in values.items() if value is not None}


def winner_against_runner_up(ranking: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The first candidate of ``ranking`` against the second on the per-case foreground
    Dice of the cases both have: ``runner_up``, the
    :class:`~covplan.evaluation.paired_statistics.PairedDifference` fields, ``alpha`` and
    ``significant``. None with a single candidate."""
    if len(ranking) < 2:
        return None
    best, runner_up = ranking[0]["foreground_dice_per_case"], ranking[1]["foreground_dice_per_case"]
    cases = sorted(set(best) & set(runner_up))
    difference = paired_difference([best[case] for case in cases], [runner_up[case] for case in cases])
    return {"runner_up": ranking[1]["name"], **difference.record(), "alpha": ALPHA,
            "significant": difference.p is not None and difference.p < ALPHA}


def _foreground_dice(model_dir: Path) -> float | None:
    return pooled_summary(list(fold_summaries(model_dir).values()))["foreground_mean"]["Dice"]


def spread_over_seeds(work_dir: Path, models: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """For each model trained with more seeds (``plan-and-train --repeats``: the same model
    folder in ``WORK/seeds/seed_S/``): the cross-validation foreground Dice of every seed's
    model folder (by its path in ``work_dir``), their mean and standard deviation."""
    spread = {}
    for model in models:
        repeats = [folder / model.name for folder in seed_works(work_dir).values()
                   if (folder / model.name).is_dir() and fold_dirs(folder / model.name)]
        if not repeats:
            continue
        dice = {folder.relative_to(work_dir).as_posix(): _foreground_dice(folder) for folder in [model, *repeats]}
        defined = [value for value in dice.values() if value is not None]
        spread[model.name] = {"foreground_dice": dice, "mean": statistics.fmean(defined) if defined else None,
                              "sd": statistics.stdev(defined) if len(defined) > 1 else None}
    return spread


def _validation_probabilities(model_dir: Path) -> dict[str, Path] | None:
    """Case id -> saved validation probabilities over all folds, ``None`` when a fold has none."""
    files = {}
    for fold_dir in fold_dirs(model_dir).values():
        found = sorted(validation_folder(fold_dir).glob("*.npz"))
        if not found:
            return None
        files.update({path.name[:-len(".npz")]: path for path in found})
    return files


def _ensemble(members: Sequence[Path], probabilities: Sequence[dict[str, Path]], output_dir: Path,
              dataset_json: dict[str, Any]) -> None:
    plans_file = members[0] / MODEL_PLANS_JSON
    if not plans_file.is_file():
        raise CovplanError(f"{plans_file}: missing; a model folder carries the plans it was trained with")
    plans_manager = PlansManager(read_json(plans_file, "a model folder carries the plans it was trained with"))
    reader_writer = plans_manager.image_reader_writer_class()
    label_manager = plans_manager.get_label_manager(dataset_json)
    case_ids = sorted(probabilities[0])
    for member, files in zip(members[1:], probabilities[1:]):
        if sorted(files) != case_ids:
            raise CovplanError(f"{member}: its validation probabilities cover other cases than {members[0]}'s; "
                               "ensembles need the same cross-validation splits")
    with atomic_directory(output_dir, overwrite=True) as temporary:
        # nnU-Net's merge_files per case, not ensemble_crossvalidations: that one always starts a
        # process pool and writes straight into the output folder.
        for case_id in tqdm(case_ids, desc=f"ensemble {output_dir.name}", unit="case", disable=len(case_ids) < 2):
            merge_files([str(files[case_id]) for files in probabilities], str(temporary / case_id),
                        dataset_json["file_ending"], reader_writer, label_manager)


def _ensembles(work_dir: Path, models: Sequence[Path], gt_dir: Path, dataset_json: dict[str, Any],
               num_processes: int) -> tuple[list[dict[str, Any]], str | None]:
    with_probabilities = {model: files for model in models if (files := _validation_probabilities(model)) is not None}
    if len(with_probabilities) < 2:
        have = ", ".join(model.name for model in with_probabilities) or "none"
        return [], f"{NO_ENSEMBLE_NOTE} (models with them: {have})"
    candidates = []
    for pair in combinations(with_probabilities, 2):
        name = "+".join(model.name for model in pair)
        output_dir = work_dir / ENSEMBLES_FOLDER / name
        _ensemble(pair, [with_probabilities[model] for model in pair], output_dir, dataset_json)
        summary = evaluate_folder(gt_dir, output_dir, output_dir / SUMMARY_JSON, dataset_json=dataset_json,
                                  num_processes=num_processes, allow_missing_predictions=True)
        members = [model.name for model in pair]
        candidates.append(_candidate(name, "ensemble", output_dir, members, [output_dir], summary))
    return candidates, None


def _dataset_json(models: Sequence[Path], gt_dir: Path) -> dict[str, Any]:
    for candidate in (models[0] / DATASET_JSON, gt_dir.parent / DATASET_JSON):
        if candidate.is_file():
            return load_dataset_json(candidate)
    raise CovplanError(f"{models[0] / DATASET_JSON}: missing; a model folder carries the dataset.json it was "
                       "trained with")


def find_best(work_dir: Path, architectures: Sequence[str] | None = None, output_file: Path | None = None,
              num_processes: int = DEFAULT_PROCESSES, tracking: Tracking | None = None) -> dict[str, Any]:
    """Rank every model ``WORK/<architecture>__<configuration>`` (only ``architectures`` when
    given) and every pair of them as an ensemble by the foreground mean Dice of their
    cross-validation predictions, choose post-processing on the best one's predictions,
    store it as ``postprocessing.json`` in its folder (the ensemble's folder under
    ``WORK/ensembles`` for an ensemble) and write the result to ``output_file`` (default
    ``WORK/find_best.json``); returns it. Each tracker of ``tracking`` gets a run with the
    Dice of every candidate, the choice and both files."""
    work_dir = Path(work_dir)
    gt_dir = gt_folder(work_dir)
    if not gt_dir.is_dir():
        raise CovplanError(f"{gt_dir}: missing; find-best compares the validation predictions with the references "
                           "the trainer copies there")
    models = model_dirs(work_dir, architectures)
    tracking = tracking or Tracking()
    plans_file = models[0] / MODEL_PLANS_JSON
    dataset_name = (read_json_if_present(plans_file, "train the model again") or {}).get("dataset_name")
    run = RunDescription(name=f"find-best {work_dir.name}", kind="find-best", experiment=dataset_name or work_dir.name,
                         folder=work_dir, work=work_dir, params={"models": json.dumps([m.name for m in models])})
    output_file = Path(output_file) if output_file is not None else work_dir / FIND_BEST_JSON
    with tracking.run(run):
        result = _find_best(work_dir, models, gt_dir, output_file, num_processes)
        _report(tracking, result, output_file)
    return result


def _find_best(work_dir: Path, models: list[Path], gt_dir: Path, output_file: Path,
               num_processes: int) -> dict[str, Any]:
    dataset_json = _dataset_json(models, gt_dir)
    candidates = []
    for model in models:
        folds = fold_dirs(model)
        summary = pooled_summary(list(fold_summaries(model).values()))
        candidates.append(_candidate(model.name, "model", model, [model.name],
                                     [validation_folder(folder) for folder in folds.values()], summary))
    ensembles, ensemble_note = _ensembles(work_dir, models, gt_dir, dataset_json, num_processes)
    ranking = sorted(candidates + ensembles, key=lambda entry: -(entry["foreground_dice"] or 0.0))
    best = ranking[0]
    choice = choose_postprocessing(gt_dir, [Path(path) for path in best["prediction_dirs"]], dataset_json)
    postprocessing_file = save_postprocessing(choice, Path(best["folder"]))
    result = {"best": best["name"], "ranking": ranking, "against_runner_up": winner_against_runner_up(ranking),
              "spread_over_seeds": spread_over_seeds(work_dir, models), "ensemble_note": ensemble_note,
              "postprocessing": {"file": str(postprocessing_file), **choice}}
    write_json_atomic(output_file, result)
    logger.info("wrote %s", output_file)
    return result


def _report(tracking: Tracking, result: dict[str, Any], output_file: Path) -> None:
    """Foreground Dice of every candidate, the best one's Dice per class before and after
    its post-processing, the choice, and the result and post-processing files."""
    postprocessing = result["postprocessing"]
    names = postprocessing["names"]
    metrics = {f"{entry['name']}/cv_dice_foreground": entry["foreground_dice"] for entry in result["ranking"]
               if entry["foreground_dice"] is not None}
    for stage in ("before", "after"):
        metrics.update({f"best/dice_{names.get(key, key)}_{stage}_postprocessing": value
                        for key, value in postprocessing[f"dice_{stage}"].items() if value is not None})
    tracking.log_metrics(metrics)
    tracking.log_params({"best": result["best"], "postprocessing_rules": json.dumps(postprocessing["rules"])})
    tracking.log_artifacts([output_file, Path(postprocessing["file"])])
