"""``covplan tune``: run a study's trials here or each as its own job, then write its results."""

from __future__ import annotations

from covplan.launch import Call, Launcher, run_jobs
from covplan.search import Study, StudyResult, open_study, run_trials, write_results
from covplan.search.study import counted_trials


def tune(study: Study, keep_models: str = "all", launcher: Launcher | None = None) -> StudyResult | None:
    """Run ``study`` to its number of trials, here or each trial as its own job, then
    write its results (:func:`covplan.search.write_results`). None after a launcher's dry run."""
    optuna_study = open_study(study)  # created here once, before jobs race to create it
    if launcher is None:
        run_trials(study)
    else:
        remaining = study.trials - counted_trials(optuna_study)
        run_jobs([Call(f"trial job {index}", run_trials, (study, 1)) for index in range(max(0, remaining))],
                 launcher, study.settings.device)
        if launcher.dry_run:
            return None
    return write_results(study, keep_models)
