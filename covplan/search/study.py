"""``covplan tune``: an Optuna study over the training recipe of a planned WORK folder.

Each trial chooses an architecture, a configuration (patch and spacing, among those
planned in WORK), a batch size (the plan's, or a share of it), a loss plugin, the initial
learning rate, the augmentation and the values of the architecture's own
:meth:`~covplan.architectures.base.ArchitecturePlugin.search_space`; it trains the chosen
folds in ``WORK/tune/STUDY/trial_NNNN/`` (a WORK folder of links to WORK's plans and
preprocessed data, so trials never share a model folder) and scores the mean foreground
Dice of their validation cases. With a time budget every fold runs the budget planner's
schedule (:mod:`covplan.training.budget`), so trials are compared at equal compute.

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

import itertools
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.training.interruption import Interrupted
from covplan.training.settings_file import RECIPE_FIELDS
from covplan.training.fold_runner import train_fold
from covplan.training.settings import TrainingSettings
from covplan.training.work_folder import MAIN_CONFIGURATIONS, Fold, load_training_inputs

logger = logging.getLogger(__name__)

TUNE_FOLDER = "tune"
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


def open_study(study: Study):
    """The Optuna study, created on first use, with heartbeats and the retry of dead trials."""
    optuna = require_optuna()
    study.folder.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna since 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(study.storage, heartbeat_interval=study.heartbeat_s,
                                                 grace_period=study.grace_s, heartbeat_stale_trial_callback=_retry())
    except Exception as error:  # a bad URL, a missing database driver, a server that does not answer
        raise CovplanError(f"cannot open the study storage {study.storage} ({type(error).__name__}: {error}); "
                           f"give --storage an Optuna storage URL, e.g. sqlite:///study.db or "
                           f"postgresql://user:password@host/database") from error
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=PRUNING_STARTUP_TRIALS,
                                          n_warmup_steps=PRUNING_WARMUP_EPOCHS)
              if study.pruning else optuna.pruners.NopPruner())
    return optuna.create_study(storage=storage, study_name=study.name, direction="maximize", pruner=pruner,
                               load_if_exists=True)


def _retry():
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
    retry = _retry()
    for number in stopped:
        if trials[number].state.name == "RUNNING":  # a signal ends the process before Optuna records it
            optuna_study.tell(number, state=optuna.trial.TrialState.FAIL)
        logger.info("trial %d was interrupted: queued again, to resume in its folder", number)
        retry(optuna_study, {trial.number: trial for trial in optuna_study.get_trials(deepcopy=False)}[number])


def run_trials(study: Study, most: int | None = None) -> None:
    """Work on ``study`` until it has ``study.trials`` counted trials, running at most
    ``most`` of them here; other processes may work on it at the same time."""
    optuna_study = open_study(study)
    requeue_interrupted(optuna_study)
    remaining = study.trials - counted_trials(optuna_study)
    if remaining <= 0:
        return

    def stop_when_done(optuna_study, _trial) -> None:
        if counted_trials(optuna_study) >= study.trials:
            optuna_study.stop()

    optuna_study.optimize(lambda trial: objective(trial, study), n_trials=min(remaining, most or remaining),
                          catch=(CovplanError,), callbacks=[stop_when_done])


def objective(trial, study: Study) -> float:
    """Train the trial's folds; the mean over folds of their validation foreground Dice."""
    architecture, configuration, changes = suggest(trial, study.space, study.work)
    # A retried trial inherits its user attributes, this folder among them: it resumes there.
    resume = "folder" in trial.user_attrs
    folder = Path(trial.user_attrs.get("folder") or study.folder / f"trial_{trial.number:04d}")
    trial.set_user_attr("folder", str(folder))
    trial.set_user_attr("interrupted", False)  # a retry inherits its original's attributes
    link_work(study.work, folder)
    settings = replace(study.settings, evaluate=True, **changes,
                       on_epoch_end=pruning_reporter(trial) if study.pruning else None)
    record = settings.record()
    trial.set_user_attr("settings", {name: record[name] for name in RECIPE_FIELDS})
    logger.info("trial %d: %s %s, %s", trial.number, architecture, configuration, changes)
    values = []
    try:
        for fold in study.folds:
            summary = train_fold(folder, architecture, fold, configuration, settings, resume=resume)
            values.append(summary["foreground_mean"]["Dice"] if summary else math.nan)
    except CovplanError as error:
        trial.set_user_attr("error", str(error))
        raise
    except (Interrupted, KeyboardInterrupt):
        trial.set_user_attr("interrupted", True)
        raise
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else 0.0  # no foreground found or predicted anywhere


def suggest(trial, space: SearchSpace, work: Path) -> tuple[str, str, dict[str, Any]]:
    """The trial's architecture, configuration and :class:`TrainingSettings` values."""
    from covplan.registry import get_architecture

    architecture = trial.suggest_categorical("architecture", space.architectures)
    configuration = trial.suggest_categorical("configuration", space.configurations)
    batch_scale = trial.suggest_categorical("batch_scale", space.batch_scales)
    planned_batch = load_training_inputs(work, architecture, configuration).plan["batch_size"]
    # Parameters of several architectures are named apart: each has its own values.
    architecture_params = {name: trial.suggest_categorical(f"{architecture}.{name}", list(values))
                           for name, values in get_architecture(architecture).search_space().items()}
    return architecture, configuration, {
        "loss": trial.suggest_categorical("loss", space.losses),
        "initial_lr": trial.suggest_float("initial_lr", *space.lr_range, log=True),
        "augmentation": trial.suggest_categorical("augmentation", space.augmentations),
        "batch_size": max(1, round(planned_batch * batch_scale)),
        "architecture_params": architecture_params or None,
    }


def pruning_reporter(trial) -> Callable[[int, dict[str, Any]], None]:
    """``on_epoch_end`` for a trial: report the epoch's moving-average pseudo Dice and stop
    the trial (optuna.TrialPruned) when the pruner says so. Epochs of later folds continue
    the count."""
    import optuna

    steps = itertools.count()

    def report(epoch: int, row: dict[str, Any]) -> None:
        trial.report(row["ema_dice"], next(steps))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pseudo Dice {row['ema_dice']:.4f} after epoch {epoch}")

    return report


def link_work(work: Path, folder: Path) -> None:
    """Make ``folder`` a WORK folder of links to ``work``'s plans, dataset description,
    splits, reference label maps and preprocessed data; what is trained there stays there."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {plan.get("data_identifier") for plans_file in work.glob("plans_*.json")
            for plan in read_json(plans_file, "plan again")["configurations"].values()}
    for entry in Path(work).iterdir():
        wanted = entry.suffix == ".json" or entry.name == "gt_segmentations" or entry.name in data
        if wanted and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
