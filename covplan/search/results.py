"""What a study leaves in ``WORK/tune/STUDY/``: the table of its trials (``trials.csv``),
their plot (``trials.png``), the best trial's settings file (``best_settings.json``, which
``covplan train --settings`` takes) and the trials' models, kept or removed."""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from covplan.atomic import atomic_file, save_figure_atomic
from covplan.errors import CovplanError
from covplan.search.study import Study, open_study
from covplan.training.settings_file import write_settings_file
from covplan.work_folder import checkpoint_files

logger = logging.getLogger(__name__)

KEEP_MODELS = ("all", "best", "none")
TRIALS_TABLE, TRIALS_PLOT, BEST_SETTINGS = "trials.csv", "trials.png", "best_settings.json"
FIXED_COLUMNS = ("trial", "state", "value", "minutes")


@dataclass(frozen=True)
class StudyResult:
    """The table's rows, the best trial and the files written."""

    rows: list[dict[str, Any]]
    best_trial: int
    best_value: float
    best_settings: Path
    table: Path
    plot: Path


def write_results(study: Study, keep_models: str = "all") -> StudyResult:
    """Write the table, the plot and the best trial's settings of ``study``
    and remove the checkpoints ``keep_models``
    says to (``best``: every trial's but the best one's; ``none``: all of them; logs and
    validation results stay)."""
    optuna_study = open_study(study)
    trials = optuna_study.get_trials(deepcopy=False)
    complete = [trial for trial in trials if trial.state.name == "COMPLETE"]
    if not complete:
        raise CovplanError(f"no trial of study '{study.name}' in {study.storage} finished; see the log of its "
                           f"failed trials, then run `covplan tune` again (it continues the study)")
    best = optuna_study.best_trial
    rows = [_row(trial) for trial in trials]
    table, plot, best_settings = (study.folder / name for name in (TRIALS_TABLE, TRIALS_PLOT, BEST_SETTINGS))
    _write_table(rows, table)
    _plot(rows, plot)
    write_settings_file(best_settings, best.params["architecture"], best.params["configuration"],
                        replace(study.settings, **best.user_attrs["settings"]), study=study.name,
                        trial=best.number, value=best.value, folder=best.user_attrs["folder"])
    if keep_models != "all":
        for trial in trials:
            if trial.state.name in ("COMPLETE", "PRUNED", "FAIL") and (keep_models == "none" or trial.number != best.number):
                _remove_checkpoints(Path(trial.user_attrs.get("folder", "")))
    return StudyResult(rows, best.number, best.value, best_settings, table, plot)


def _row(trial) -> dict[str, Any]:
    minutes = (trial.datetime_complete - trial.datetime_start).total_seconds() / 60 \
        if trial.datetime_complete and trial.datetime_start else None
    return {"trial": trial.number, "state": trial.state.name, "value": trial.value,
            "minutes": None if minutes is None else round(minutes, 2), **trial.params}


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return [*FIXED_COLUMNS, *dict.fromkeys(key for row in rows for key in row if key not in FIXED_COLUMNS)]


def _write_table(rows: list[dict[str, Any]], path: Path) -> None:
    with atomic_file(path) as temporary, temporary.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)


def format_trials_table(rows: list[dict[str, Any]]) -> str:
    """The trials as a plain-text table, one row each, best value first."""
    columns = _columns(rows)
    ordered = sorted(rows, key=lambda row: -math.inf if row["value"] is None else row["value"], reverse=True)
    cells = [[_cell(row.get(column)) for column in columns] for row in ordered]
    widths = [max(len(column), *(len(line[index]) for line in cells)) for index, column in enumerate(columns)]
    return "\n".join("  ".join(text.rjust(width) for text, width in zip(line, widths))
                     for line in [columns, *cells])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Each finished trial's value and the best so far, by trial number."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    done = [row for row in rows if row["state"] == "COMPLETE"]
    best, best_so_far = -math.inf, []
    for row in done:
        best = max(best, row["value"])
        best_so_far.append(best)
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot([row["trial"] for row in done], [row["value"] for row in done], "o", label="trial")
    axis.step([row["trial"] for row in done], best_so_far, where="post", label="best so far")
    pruned = [row["trial"] for row in rows if row["state"] == "PRUNED"]
    if pruned:
        axis.plot(pruned, [min(row["value"] for row in done)] * len(pruned), "x", color="grey", label="pruned")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("trial")
    axis.set_ylabel("cross-validation foreground Dice")
    axis.legend()
    save_figure_atomic(figure, path)


def _remove_checkpoints(folder: Path) -> None:
    for checkpoint in (path for model in folder.iterdir() if model.is_dir() for path in checkpoint_files(model)):
        checkpoint.unlink()
