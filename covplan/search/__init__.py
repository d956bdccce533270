"""Search: ``covplan tune``, an Optuna study over the training recipe (optuna is an
optional dependency: ``pip install covplan[tune]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from covplan.search.results import KEEP_MODELS, StudyResult, format_trials_table, write_results
from covplan.search.study import SearchSpace, Study, default_storage, open_study, planned_configurations, run_trials

if TYPE_CHECKING:
    from covplan.launch import Launcher

__all__ = ["KEEP_MODELS", "SearchSpace", "Study", "StudyResult", "default_storage", "format_trials_table",
           "planned_configurations", "run_trials", "tune", "write_results"]


def tune(study: Study, keep_models: str = "all", launcher: Launcher | None = None) -> StudyResult | None:
    """Run ``study`` to its number of trials, here or each trial as its own job, then
    write its results (:func:`write_results`). None after a launcher's dry run."""
    from covplan.search.study import counted_trials

    optuna_study = open_study(study)  # created here once, before jobs race to create it
    if launcher is None:
        run_trials(study)
    else:
        from covplan.launch import Call, run_jobs

        remaining = study.trials - counted_trials(optuna_study)
        run_jobs([Call(f"trial job {index}", run_trials, (study, 1)) for index in range(max(0, remaining))],
                 launcher, study.settings.device)
        if launcher.dry_run:
            return None
    return write_results(study, keep_models)
