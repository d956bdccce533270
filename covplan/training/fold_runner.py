"""Running folds: one fold from its start (or its checkpoint) through the time budget,
the epochs, the final checkpoint and the evaluation of its validation cases; and the folds
of one command with the cross-validation table it prints. nnunetv2 keeps this in
``run_training.py``, apart from its trainer; so does covplan."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from nnunetv2.evaluation.evaluate_predictions import load_summary_json

from covplan.architectures.base import get_architecture
from covplan.architectures.network_check import check_network
from covplan.errors import CovplanError
from covplan.interruption import interrupted_by_signals
from covplan.planning.init_source import SourceModel
from covplan.tracking import Tracking
from covplan.training.budget_clock import start_clock
from covplan.training.checkpoints import save_checkpoint_atomically
from covplan.training.compiled_network import CompiledNetwork
from covplan.training.distributed import leave_process_group, main_process_values
from covplan.training.fold_lock import fold_lock
from covplan.training.fold_validation import (
    cross_validation_summary,
    evaluate_fold,
    fold_dice,
    format_cross_validation_table,
    write_fold_time,
)
from covplan.training.init_from import check_source_fits, load_initial_weights, write_init_record
from covplan.training.inputs import load_training_inputs, with_plan_overrides, write_model_description
from covplan.training.probe import measure_throughput
from covplan.training.run_state import checkpoint_to_resume
from covplan.training.settings import TrainingSettings
from covplan.training.tracked import budget_params, fold_run, report_fold_end
from covplan.training.trainer import Trainer
from covplan.work_folder import CHECKPOINT_FINAL, CHECKPOINT_LATEST, Fold, validation_summary_path

logger = logging.getLogger(__name__)


def train_folds(work: Path, architecture: str, folds: Sequence[Fold], configuration: str | None = None,
                settings: TrainingSettings | None = None, resume: bool = False,
                init_from: SourceModel | None = None) -> str | None:
    """Train ``folds`` one after the other (see :func:`train_fold`); the cross-validation
    table of the model folder's evaluated folds (only this run's rows for fold ``all``, or
    when another fold cannot be read), None when no fold was evaluated."""
    summaries = {str(fold): train_fold(work, architecture, fold, configuration, settings, resume=resume,
                                       init_from=init_from) for fold in folds}
    evaluated = {fold: fold_dice(summary) for fold, summary in summaries.items() if summary is not None}
    if not evaluated:
        return None
    model_folder = load_training_inputs(work, architecture, configuration).model_folder
    this_run = {"classes": list(dict.fromkeys(name for dice in evaluated.values() for name in dice)),
                "folds": evaluated}
    try:
        table = this_run if list(evaluated) == ["all"] else cross_validation_summary(model_folder)
    except CovplanError as error:  # another fold is still training, or was trained without evaluation
        logger.warning("no cross-validation table: %s", error)
        table = this_run
    return format_cross_validation_table(table, title=f"{model_folder.name}:")


def train_fold(work: Path, architecture: str, fold: Fold, configuration: str | None = None,
               settings: TrainingSettings | None = None, resume: bool = False,
               tracking: Tracking | None = None, init_from: SourceModel | None = None) -> dict[str, Any] | None:
    """Train (or with ``resume``, continue) one fold of ``architecture`` on a planned and
    preprocessed WORK folder; returns the fold's evaluation summary. SIGTERM or SIGINT
    stops it with :class:`covplan.interruption.Interrupted`; ``resume`` continues it.
    ``tracking``: the trackers to report to, with the runs the fold's run belongs to (a
    plan-and-train's) open; default those of ``settings.trackers``. ``init_from``: a
    trained model whose weights a fold that starts (not one resumed) begins with; the WORK
    folder must be planned with its plans (``covplan plan --init-from``)."""
    get_architecture(architecture)  # an unknown name fails here, listing the known ones
    settings = settings or TrainingSettings()
    inputs = with_plan_overrides(load_training_inputs(Path(work), architecture, configuration), settings.batch_size,
                                 settings.architecture_params)
    check_network(architecture, inputs.plan, inputs.num_input_channels, inputs.label_manager.num_segmentation_heads)
    if init_from is not None:
        check_source_fits(init_from, inputs)
    fold_folder = inputs.fold_folder(fold)
    if resume and fold_finished(fold_folder):
        logger.warning("%s is finished (checkpoint_final.pth is its last checkpoint): nothing to resume; train it "
                       "without --resume to train it again", fold_folder)
        return _validation_summary(fold_folder)
    # Under torchrun the processes of one run share the fold: the first one holds the lock.
    lock = fold_lock(fold_folder) if os.environ.get("RANK", "0") == "0" else nullcontext()
    try:
        with lock, interrupted_by_signals():
            return run_fold(Trainer(inputs, fold, settings, tracking), resume=resume, init_from=init_from)
    finally:
        leave_process_group()


def fold_finished(fold_folder: Path) -> bool:
    """The run ended: its final checkpoint is the last one written (a later run that was
    interrupted leaves a newer checkpoint_latest.pth, which --resume continues)."""
    final, latest = fold_folder / CHECKPOINT_FINAL, fold_folder / CHECKPOINT_LATEST
    return final.is_file() and (not latest.is_file() or final.stat().st_mtime_ns >= latest.stat().st_mtime_ns)


def _validation_summary(fold_folder: Path) -> dict[str, Any] | None:
    """The evaluation summary a finished fold wrote (None when it was trained without)."""
    path = validation_summary_path(fold_folder)
    return load_summary_json(str(path)) if path.is_file() else None


def run_fold(trainer: Trainer, resume: bool = False, init_from: SourceModel | None = None) -> dict[str, Any] | None:
    """Train until the last epoch (or early stop), write ``checkpoint_final.pth`` and,
    unless settings say otherwise, evaluate the fold. Returns the evaluation summary
    (None in processes other than the first, or without evaluation)."""
    with trainer.tracking.run(fold_run(trainer)):
        return _train_and_evaluate(trainer, resume, init_from)


def _train_and_evaluate(trainer: Trainer, resume: bool, init_from: SourceModel | None) -> dict[str, Any] | None:
    try:
        budget_state = _start(trainer, resume, init_from)
        if budget_state is not None or trainer.settings.time_budget_s is not None:
            fit_to_budget(trainer, budget_state)
        trainer.run_epochs()
    finally:
        trainer.shutdown_loaders()
    if trainer.group.is_distributed:
        torch.distributed.barrier()
    if not trainer.group.is_main:
        return None
    save_checkpoint_atomically(trainer.checkpoint(), trainer.output_folder / CHECKPOINT_FINAL)
    state = trainer.state
    training_s = state.elapsed_s
    summary = None
    if trainer.settings.evaluate:
        summary = evaluate_fold(trainer.network, trainer.inputs, trainer.val_ids, trainer.output_folder,
                                trainer.device, trainer.augmentation.mirror_axes, trainer.settings.test_time_mirroring)
    write_fold_time(trainer.output_folder, training_s, state.elapsed_s, state.history,
                    state.budget.state() if state.budget is not None else None)
    report_fold_end(trainer.tracking, trainer.output_folder, summary)
    return summary


def _start(trainer: Trainer, resume: bool, init_from: SourceModel | None = None) -> dict[str, Any] | None:
    """Load the checkpoint to resume, if asked (else the weights of ``init_from``, if
    given); its time-budget state, if it has one."""
    checkpoint = checkpoint_to_resume(trainer.inputs, trainer.fold, trainer.device, resume,
                                      trainer.settings.time_budget_s)
    budget_state = None
    if checkpoint is not None:
        budget_state = checkpoint.get("budget")
        if budget_state is not None:  # the schedule's epochs before its state is loaded into it
            trainer.settings = replace(trainer.settings, num_epochs=budget_state["schedule"]["epochs"])
            trainer.build_optimizer()
        trainer.load_state(checkpoint)
        logger.info("resuming %s at epoch %d", trainer.output_folder, trainer.state.epoch)
    # Every process loads the same weights; a resumed fold's come from its checkpoint, and
    # its record from the run that started it.
    init_record = (load_initial_weights(trainer.network, init_from, trainer.plugin, trainer.inputs)
                   if checkpoint is None and init_from is not None else None)
    if trainer.group.is_main:
        trainer.output_folder.mkdir(parents=True, exist_ok=True)
        write_model_description(trainer.inputs)
        if checkpoint is None:
            write_init_record(trainer.output_folder, init_record)
    return budget_state


def fit_to_budget(trainer: Trainer, budget_state: dict[str, Any] | None = None) -> None:
    """Choose epochs, iterations and validation iterations for ``time_budget_s`` from a
    throughput measurement, and rebuild the trainer's schedule over those epochs; a resumed
    fold keeps its checkpoint's schedule (``budget_state``) and continues on the time left."""
    state = trainer.state
    state.budget = budget = start_clock(trainer.settings.time_budget_s, budget_state, lambda: state.elapsed_s,
                                        lambda: measure_throughput(trainer))
    if isinstance(trainer.model, CompiledNetwork) and not budget.throughput.compiled:
        trainer.model = trainer.network  # compiling does not pay within this budget (or failed)
    epochs, iterations, validation_iterations = main_process_values(
        [budget.schedule.epochs, budget.schedule.iterations_per_epoch, budget.schedule.validation_iterations],
        trainer.group, trainer.device)
    budget.schedule = replace(budget.schedule, epochs=epochs, iterations_per_epoch=iterations,
                              validation_iterations=validation_iterations)
    trainer.settings = replace(trainer.settings, num_epochs=epochs, iterations_per_epoch=iterations,
                               validation_iterations=validation_iterations, time_budget_s=budget.budget_s)
    if budget_state is None:  # a resumed fold's optimiser and schedule come from its checkpoint
        trainer.build_optimizer()
        if trainer.group.is_main:
            logger.info(budget.describe())
    trainer.tracking.log_params(budget_params(budget.state()))
