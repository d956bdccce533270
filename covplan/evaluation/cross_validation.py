"""The cross-validation table: per model (``WORK/<architecture>__<configuration>``), per
fold and pooled over all folds, every metric of every class, read from the
``fold_F/validation/summary.json`` files that the trainer writes with ``evaluate_folder``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnunetv2.evaluation.evaluate_predictions import label_or_region_to_key, load_summary_json

from covplan.errors import CovplanError
from covplan.evaluation.evaluate import foreground_mean, mean_metrics
from covplan.work_folder import MODEL_SEPARATOR, numbered_fold_folders, validation_summary_path

FOREGROUND_MEAN = "foreground mean"


def model_dirs(work_dir: Path, architectures: Sequence[str] | None = None) -> list[Path]:
    """The model folders ``WORK/<architecture>__<configuration>`` that hold fold folders,
    only those of ``architectures`` when given."""
    found = [folder for folder in sorted(Path(work_dir).iterdir())
             if folder.is_dir() and MODEL_SEPARATOR in folder.name and fold_dirs(folder)
             and (architectures is None or folder.name.split(MODEL_SEPARATOR)[0] in architectures)]
    if not found:
        wanted = f" of architecture(s) {', '.join(architectures)}" if architectures else ""
        raise CovplanError(f"{work_dir}: no trained model folders{wanted} (<architecture>__<configuration>/fold_N)")
    return found


def fold_dirs(model_dir: Path) -> dict[int, Path]:
    """Fold number -> ``fold_N`` folder; ``fold_all`` (trained on every case, so it has no
    held-out validation) is not a cross-validation fold and is left out."""
    return numbered_fold_folders(model_dir)


def fold_summaries(model_dir: Path) -> dict[int, dict[str, Any]]:
    """Fold number -> its validation summary (nnU-Net's key types: labels as int, regions as tuples)."""
    summaries = {}
    for fold, folder in fold_dirs(model_dir).items():
        path = validation_summary_path(folder)
        if not path.is_file():
            raise CovplanError(f"{path}: missing; score the fold with "
                               f"covplan evaluate GT_DIR {path.parent} --allow-missing")
        summaries[fold] = load_summary_json(str(path))
    return summaries


def _rows(model: str, fold: int | str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    names = summary.get("names", {})
    entries = [(label_or_region_to_key(key), names.get(label_or_region_to_key(key), str(key)), means)
               for key, means in summary["mean"].items()]
    entries.append(("foreground", FOREGROUND_MEAN, summary["foreground_mean"]))
    return [{"model": model, "fold": fold, "key": key, "class": name, **means} for key, name, means in entries]


def pooled_summary(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over the cases of all folds together (each case weighs the same, as in
    nnU-Net's cross-validation summary), in the summary's structure."""
    per_case = [case for summary in summaries for case in summary["metric_per_case"]]
    means, excluded = mean_metrics(per_case, list(summaries[0]["mean"]))
    return {"metric_per_case": per_case, "mean": means, "foreground_mean": foreground_mean(means),
            "names": summaries[0].get("names", {}), "excluded_from_mean": excluded}


def cross_validation_table(work_dir: Path, architectures: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per model, fold (``0``, ``1``, ... and ``"mean"``: all folds' cases pooled)
    and class (labels, merged regions and ``"foreground mean"``): ``model``, ``fold``,
    ``key`` (summary.json's key: ``"3"``, ``"(1, 2)"`` or ``"foreground"``), ``class`` (its
    name) and every metric of the summaries (``Dice``, ``HD95``, ``LesionF1``, ...; ``None``
    where undefined)."""
    rows = []
    for model_dir in model_dirs(Path(work_dir), architectures):
        summaries = fold_summaries(model_dir)
        for fold, summary in summaries.items():
            rows += _rows(model_dir.name, fold, summary)
        rows += _rows(model_dir.name, "mean", pooled_summary(list(summaries.values())))
    return rows
