"""One trial of a ``covplan tune`` study: choose its recipe, train its folds in a folder of
its own (links to WORK's plans and data) and score their validation Dice."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from covplan.architectures.base import get_architecture
from covplan.errors import CovplanError
from covplan.interruption import Interrupted
from covplan.search.study import SearchSpace, Study, counted_trials, open_study, requeue_interrupted
from covplan.training import load_training_inputs, train_fold
from covplan.training.settings_file import RECIPE_FIELDS
from covplan.work_folder import link_work

logger = logging.getLogger(__name__)


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
