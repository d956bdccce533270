"""``covplan compare``: models against a baseline, case by case, with statistics a reviewer
accepts (:mod:`covplan.evaluation.paired_statistics`).

A model is a model folder, whose cross-validation predictions are read through the
``fold_F/validation/summary.json`` files the trainer wrote, or a folder of predictions,
scored here against references (:func:`covplan.evaluation.evaluate_folder`). The first
model is the baseline; for every other model, every metric asked for and every class (and
the foreground mean of each case) the per-case differences ``model - baseline`` are
summarised. The p-values of one metric are Holm-corrected over all its rows (models x
classes): that is the family a reader scans for a star. A case whose value is undefined
for either model (Dice of a class absent from both masks) is left out of that row, and
named in it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnunetv2.evaluation.evaluate_predictions import label_or_region_to_key

from covplan.atomic import atomic_file, write_json_atomic
from covplan.errors import CovplanError
from covplan.evaluation.compare_plot import plot_comparison
from covplan.evaluation.cross_validation import FOREGROUND_MEAN, fold_summaries, pooled_summary
from covplan.evaluation.evaluate import DEFAULT_PROCESSES, MetricOptions, evaluate_folder, foreground_mean
from covplan.evaluation.paired_statistics import ALPHA, CONFIDENCE_LEVEL, holm, paired_difference
from covplan.output_folder import refuse_overlap
from covplan.work_folder import COMPARE_CSV, COMPARE_FOLDER, COMPARE_JSON, COMPARE_PNG, numbered_fold_folders

# Metrics where a smaller value is the better one; every other metric is better higher.
LOWER_IS_BETTER = frozenset({"HD95", "AbsoluteVolumeError", "RelativeVolumeError", "FP", "FN"})
BOUNDARY_METRICS = frozenset({"HD95", "NSD"})  # only these need MetricOptions.boundary
FOREGROUND = "foreground"  # the key of the per-case foreground mean, as in cross-validation tables

# case id -> class key ("1", "(1, 2)", "foreground") -> metric -> value (None: undefined)
CaseMetrics = dict[str, dict[str, dict[str, float | None]]]


@dataclass(frozen=True)
class ScoredModel:
    """One model's per-case metrics: its name in the tables, where they come from, and the
    class name of each class key."""

    name: str
    folder: Path
    per_case: CaseMetrics
    class_names: dict[str, str]


def _from_summary(name: str, folder: Path, summary: Mapping[str, Any]) -> ScoredModel:
    per_case = {}
    for case in summary["metric_per_case"]:
        metrics = {label_or_region_to_key(key): dict(values) for key, values in case["metrics"].items()}
        metrics[FOREGROUND] = foreground_mean(case["metrics"])
        per_case[case["case_id"]] = metrics
    names = {label_or_region_to_key(key): summary.get("names", {}).get(label_or_region_to_key(key), str(key))
             for key in summary["mean"]}
    return ScoredModel(name, Path(folder), per_case, {**names, FOREGROUND: FOREGROUND_MEAN})


def scored_model(folder: Path, references: Path | None = None, dataset_json: Mapping[str, Any] | None = None,
                 metrics: Sequence[str] = ("Dice",), num_processes: int = DEFAULT_PROCESSES,
                 name: str | None = None) -> ScoredModel:
    """The per-case metrics of ``folder``: a model folder's cross-validation predictions
    (its ``fold_F/validation/summary.json``), or a prediction folder scored against
    ``references`` (computing boundary metrics only when ``metrics`` asks for them)."""
    folder = Path(folder)
    name = name or folder.name
    if numbered_fold_folders(folder):
        return _from_summary(name, folder, pooled_summary(list(fold_summaries(folder).values())))
    if references is None:
        raise CovplanError(f"{folder}: no fold_N folders, so no model folder; to compare a folder of predictions "
                           f"give the references with --references DIR")
    options = MetricOptions(boundary=bool(BOUNDARY_METRICS & set(metrics)))
    summary = evaluate_folder(references, folder, dataset_json=dataset_json, num_processes=num_processes,
                              allow_missing_predictions=True, options=options)
    return _from_summary(name, folder, summary)


def model_names(folders: Sequence[Path]) -> list[str]:
    """Each folder's name, or where two share a name (the same model trained with two seeds)
    its path below the folders' common parent."""
    folders = [Path(folder).resolve() for folder in folders]
    if len(set(folders)) < len(folders):
        twice = next(folder for folder in folders if folders.count(folder) > 1)
        raise CovplanError(f"{twice}: given twice; give each model once")
    names = [folder.name for folder in folders]
    if len(set(names)) == len(names):
        return names
    common = Path(os.path.commonpath(folders))
    return [str(folder.relative_to(common)) for folder in folders]


def _refuse_a_single_model(models: Sequence[Any]) -> None:
    if len(models) < 2:
        raise CovplanError("compare needs two models or more: the first is the baseline")


def refuse_mismatched_cases(models: Sequence[ScoredModel]) -> list[str]:
    """The cases every model has, in order; a case some model lacks is refused in one line
    that names the cases and the models."""
    every = sorted(set().union(*(model.per_case for model in models)))
    lacking = [f"{model.name} lacks {', '.join(sorted(set(every) - set(model.per_case)))}"
               for model in models if set(model.per_case) != set(every)]
    if lacking:
        raise CovplanError(f"the models were scored on different cases: {'; '.join(lacking)}; compare models of the "
                           f"same cross-validation split, or predictions of the same cases")
    return every


def _classes(models: Sequence[ScoredModel]) -> list[str]:
    keys = [key for key in models[0].class_names if all(key in model.class_names for model in models[1:])]
    if keys == [FOREGROUND]:
        raise CovplanError(f"{models[0].name} and the other models share no class; compare models of one dataset")
    return keys


def _refuse_unknown_metrics(models: Sequence[ScoredModel], metrics: Sequence[str]) -> None:
    for model in models:
        known = next(iter(next(iter(model.per_case.values())).values()))
        unknown = [metric for metric in metrics if metric not in known]
        if unknown:
            raise CovplanError(f"{model.folder}: no {', '.join(unknown)} per case (its metrics: {', '.join(known)}); "
                               f"score its predictions with `covplan evaluate` with every metric on")


def _row(metric: str, baseline: ScoredModel, model: ScoredModel, key: str, cases: Sequence[str]) -> dict[str, Any]:
    pairs = {case: (model.per_case[case][key][metric], baseline.per_case[case][key][metric]) for case in cases}
    defined = {case: pair for case, pair in pairs.items() if None not in pair}
    model_values = [pair[0] for pair in defined.values()]
    baseline_values = [pair[1] for pair in defined.values()]
    difference = paired_difference(model_values, baseline_values, lower_is_better=metric in LOWER_IS_BETTER)
    return {"metric": metric, "better": "lower" if metric in LOWER_IS_BETTER else "higher", "model": model.name,
            "baseline": baseline.name, "key": key, "class": baseline.class_names[key],
            "baseline_mean": sum(baseline_values) / len(defined) if defined else None,
            "model_mean": sum(model_values) / len(defined) if defined else None,
            **difference.record(),
            "undefined_cases": sorted(set(cases) - set(defined)),
            "differences": {case: pair[0] - pair[1] for case, pair in defined.items()}}


def compare_models(models: Sequence[ScoredModel], metrics: Sequence[str] = ("Dice",)) -> dict[str, Any]:
    """Every model after the first against the first, per metric and class; see the module
    docstring. Returns ``baseline``, ``models``, ``metrics``, ``cases``, ``alpha``,
    ``confidence_level`` and ``rows`` (one per metric, model and class, with its per-case
    ``differences`` and ``p_holm``)."""
    _refuse_a_single_model(models)
    metrics = list(dict.fromkeys(metrics))  # a metric asked for twice is one family
    cases = refuse_mismatched_cases(models)
    _refuse_unknown_metrics(models, metrics)
    baseline, keys = models[0], _classes(models)
    rows = []
    for metric in metrics:
        family = [_row(metric, baseline, model, key, cases) for model in models[1:] for key in keys]
        for row, adjusted in zip(family, holm([row["p"] for row in family])):
            row["p_holm"] = adjusted
            row["significant"] = adjusted is not None and adjusted < ALPHA
        rows += family
    return {"baseline": baseline.name, "models": [{"name": model.name, "folder": str(model.folder)} for model in models],
            "metrics": metrics, "cases": cases, "alpha": ALPHA, "confidence_level": CONFIDENCE_LEVEL,
            "rows": rows}


CSV_COLUMNS = ("metric", "better", "model", "baseline", "class", "n", "baseline_mean", "model_mean", "mean_difference",
               "ci_low", "ci_high", "p", "p_holm", "significant", "wins", "ties", "losses")


def write_comparison(result: Mapping[str, Any], output_dir: Path) -> dict[str, Path]:
    """``compare.json`` (everything, per-case differences included) and ``compare.csv`` (one
    line per row, without them) in ``output_dir``; returns both paths."""
    output_dir = Path(output_dir)
    written = {"json": output_dir / COMPARE_JSON, "csv": output_dir / COMPARE_CSV}
    write_json_atomic(written["json"], dict(result))
    with atomic_file(written["csv"]) as temporary:
        with temporary.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(result["rows"])
    return written


def compare_folders(folders: Sequence[Path], references: Path | None = None, metrics: Sequence[str] = ("Dice",),
                    dataset_json: Mapping[str, Any] | None = None, output_dir: Path | None = None,
                    num_processes: int = DEFAULT_PROCESSES) -> tuple[dict[str, Any], dict[str, Path]]:
    """Compare the models in ``folders`` (model folders or, with ``references``, prediction
    folders; the first is the baseline) on ``metrics`` and write ``compare.json``,
    ``compare.csv`` and ``compare.png`` to ``output_dir`` (default: ``compare/`` beside the
    first folder). Returns the comparison and the files written."""
    _refuse_a_single_model(folders)  # before a prediction folder is scored for nothing
    if output_dir is None:
        first = Path(folders[0])
        # "." and ".." have no folder beside them until resolved; other paths stay as given.
        output_dir = (first if first.name not in ("", "..") else first.resolve()).parent / COMPARE_FOLDER
    refuse_overlap(Path(output_dir), [*folders, references])
    models = [scored_model(folder, references, dataset_json, metrics, num_processes, name)
              for folder, name in zip(folders, model_names(folders))]
    result = compare_models(models, metrics)
    written = write_comparison(result, output_dir)
    written["plot"] = plot_comparison(result, output_dir / COMPARE_PNG)
    return result, written
