"""Search: ``covplan tune``, an Optuna study over the training recipe (optuna is an
optional dependency: ``pip install covplan[tune]``). The study and its storage
(:mod:`~covplan.search.study`), one trial (:mod:`~covplan.search.trial`), the results
(:mod:`~covplan.search.results`); :func:`covplan.workflows.tune.tune` runs a study."""

from covplan.search.results import KEEP_MODELS, StudyResult, format_trials_table, write_results
from covplan.search.study import SearchSpace, Study, default_storage, open_study, planned_configurations
from covplan.search.trial import run_trials

__all__ = ["KEEP_MODELS", "SearchSpace", "Study", "StudyResult", "default_storage", "format_trials_table",
           "open_study", "planned_configurations", "run_trials", "write_results"]
