"""``covplan tune``: an Optuna study over the training recipe of a planned WORK folder: what
it searches, and where it is kept (:mod:`covplan.search.trial` runs its trials).

Each trial chooses an architecture, a configuration (patch and spacing, among those
planned in WORK), a batch size (the plan's, or a share of it), a loss plugin, the initial
learning rate, the augmentation and the values of the architecture's own
:meth:`~covplan.architectures.base.ArchitecturePlugin.search_space`; it trains the chosen
folds in ``WORK/tune/STUDY/trial_NNNN/`` (a WORK folder of links to WORK's plans and
preprocessed data, so trials never share a model folder) and scores the mean foreground
Dice of their validation cases. With a time budget every fold runs the budget planner's
schedule (:mod:`covplan.planning.schedule`), so trials are compared at equal compute.

Optuna keeps the study in a database (SQLite in ``WORK/tune/STUDY/study.db``, or any
storage URL): several processes or machines can work on one study, and a study started
again continues where it stopped. A trial whose process died (killed, machine lost) stops
sending heartbeats; once they are older than the grace period the next process to start a
trial fails it and re-queues the same parameters (Optuna's
RetryHeartbeatStaleTrialCallback), which resume in the dead trial's folder from its
checkpoints. A trial stopped by a signal (SIGTERM, Ctrl-C) says so before its process
ends, and is queued again as soon as the study continues. Trials are pruned on the moving-average pseudo Dice of each epoch
(Optuna's MedianPruner), through ``TrainingSettings.on_epoch_end``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from covplan.errors import CovplanError
from covplan.losses.base import dims_text, get_loss, losses
from covplan.training.inputs import load_training_inputs
from covplan.training.settings import TrainingSettings
from covplan.work_folder import MAIN_CONFIGURATIONS, TUNE_FOLDER, Fold

logger = logging.getLogger(__name__)

STUDY_DATABASE = "study.db"
# Optuna's suggestion for its heartbeat: a beat a minute, a trial silent for two is dead.
HEARTBEAT_S, GRACE_S = 60, 120
# A dead trial is tried again at most this often: one that kills its process every time
# (out of memory) must not hold the study up for ever.
MAX_RETRIES = 2
# MedianPruner: no pruning before this many trials have finished, nor in a trial's first epochs.
PRUNING_STARTUP_TRIALS, PRUNING_WARMUP_EPOCHS = 2, 2


@dataclass(frozen=True)
class SearchSpace:
    """What the trials choose from."""

    architectures: tuple[str, ...]
    configurations: tuple[str, ...]  # planned in WORK for every architecture
    losses: tuple[str, ...]
    augmentations: tuple[str, ...]
    lr_range: tuple[float, float] = (1e-4, 1e-1)  # searched on a log scale
    batch_scales: tuple[float, ...] = (1.0, 0.5)  # shares of the plan's batch size


@dataclass(frozen=True)
class Study:
    """One study: where it lives, what it searches, and the settings every trial shares
    (the schedule or time budget, the device, the data loading)."""

    work: Path
    name: str
    storage: str
    trials: int
    space: SearchSpace
    settings: TrainingSettings
    folds: tuple[Fold, ...]
    pruning: bool = True
    heartbeat_s: int = HEARTBEAT_S
    grace_s: int = GRACE_S

    @property
    def folder(self) -> Path:
        return self.work / TUNE_FOLDER / self.name


def study_folder(work: Path, name: str) -> Path:
    return Path(work) / TUNE_FOLDER / name


def default_storage(work: Path, name: str) -> str:
    """SQLite in the study's folder."""
    return f"sqlite:///{(study_folder(work, name) / STUDY_DATABASE).resolve()}"


def require_optuna():
    """optuna, or a one-line error naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise CovplanError("covplan tune needs optuna, which is not installed; pip install 'covplan[tune]'") from None
    return optuna


def planned_configurations(work: Path, architectures: tuple[str, ...]) -> tuple[str, ...]:
    """The configurations planned in ``work`` for every one of ``architectures``, the main
    one first (cascade stages left out: covplan does not train them)."""
    planned = None
    for architecture in architectures:
        inputs = load_training_inputs(work, architecture)
        names = [name for name, plan in inputs.plans["configurations"].items() if "previous_stage" not in plan]
        planned = names if planned is None else [name for name in planned if name in names]
    if not planned:
        raise CovplanError(f"{work}: no configuration is planned for all of {', '.join(architectures)}; plan them "
                           f"into one WORK folder with `covplan plan DATASET_DIR -o {work} -a ... --preprocess`")
    return tuple(sorted(planned, key=lambda name: name not in MAIN_CONFIGURATIONS))


def searchable_losses(work: Path, architecture: str, configurations: tuple[str, ...],
                      requested: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The losses a study may choose with every one of ``configurations`` (planned in
    ``work`` for ``architecture``): those ``requested``, a loss among them that cannot
    train one of them refused in one line; else every installed loss that can train them
    all. (An architecture's configurations are planned for its ``dims`` already.)"""
    dims = {configuration: len(load_training_inputs(work, architecture, configuration).plan["patch_size"])
            for configuration in configurations}
    for name in requested:
        unfit = [configuration for configuration, dim in dims.items() if dim not in get_loss(name).dims]
        if unfit:
            searched = ", ".join(f"{configuration} ({dims[configuration]}D)" for configuration in unfit)
            raise CovplanError(f"loss '{name}' supports {dims_text(get_loss(name).dims)} configurations only, but "
                               f"tune searches {searched} in {work}; leave --loss {name} out, or plan only "
                               f"configurations it supports")
    return requested or tuple(name for name, registered in losses().items()
                              if set(dims.values()) <= set(registered.plugin.dims))


def open_study(study: Study):
    """The Optuna study, created on first use, with heartbeats and the retry of dead trials."""
    optuna = require_optuna()
    # The default SQLite database lives in the study's folder; any other storage is opened
    # first, so that one that cannot be opened leaves no empty study folder behind.
    if study.storage == default_storage(study.work, study.name):
        study.folder.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna since 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(study.storage, heartbeat_interval=study.heartbeat_s,
                                                 grace_period=study.grace_s, heartbeat_stale_trial_callback=retry_dead_trials())
    except Exception as error:  # a bad URL, a missing database driver, a server that does not answer
        # SQLAlchemy's messages go on with a line of "(Background on this error at: URL)".
        reason = next(iter(str(error).splitlines()), "").strip()
        raise CovplanError(f"cannot open the study storage {study.storage} ({type(error).__name__}: {reason}); "
                           f"give --storage an Optuna storage URL, e.g. sqlite:///study.db or "
                           f"postgresql://user:password@host/database") from error
    study.folder.mkdir(parents=True, exist_ok=True)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=PRUNING_STARTUP_TRIALS,
                                          n_warmup_steps=PRUNING_WARMUP_EPOCHS)
              if study.pruning else optuna.pruners.NopPruner())
    return optuna.create_study(storage=storage, study_name=study.name, direction="maximize", pruner=pruner,
                               load_if_exists=True)


def retry_dead_trials():
    """Optuna's callback that queues a dead trial's parameters again (with its user
    attributes, the trial's folder among them), at most :data:`MAX_RETRIES` times."""
    import optuna

    with warnings.catch_warnings():  # "experimental" in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRIES)


def counted_trials(optuna_study) -> int:
    """Trials that count towards ``--trials``: finished, pruned, or failed by a mistake
    they reported (a loss the labels do not allow); a dead trial is retried instead."""
    states = [(trial.state.name, "error" in trial.user_attrs) for trial in optuna_study.get_trials(deepcopy=False)]
    return sum(state in ("COMPLETE", "PRUNED") or (state == "FAIL" and reported) for state, reported in states)


def requeue_interrupted(optuna_study) -> None:
    """Queue again, for their folders, the trials a signal stopped (SIGTERM, Ctrl-C, a
    cancelled job: the trial said so before its process ended), at once rather than after
    the heartbeat's grace period."""
    import optuna

    trials = {trial.number: trial for trial in optuna_study.get_trials(deepcopy=False)}
    retried = {number for trial in trials.values() for number in trial.system_attrs.get("retry_history", [])}
    stopped = [trial.number for trial in trials.values() if trial.user_attrs.get("interrupted") and
               trial.number not in retried and trial.state.name in ("RUNNING", "FAIL")]
    retry = retry_dead_trials()
    for number in stopped:
        if trials[number].state.name == "RUNNING":  # a signal ends the process before Optuna records it
            optuna_study.tell(number, state=optuna.trial.TrialState.FAIL)
        logger.info("trial %d was interrupted: queued again, to resume in its folder", number)
        retry(optuna_study, {trial.number: trial for trial in optuna_study.get_trials(deepcopy=False)}[number])
