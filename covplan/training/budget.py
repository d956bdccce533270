"""A schedule that fits a time budget.

nnU-Net's schedule is 1000 epochs of 250 steps whatever the compute; an nnU-Net user with
little of it shortens the epochs by hand (``nnUNetTrainer_Xepochs``) and keeps 50
validation batches per epoch. covplan measures what a step costs on the machine the run
uses (:class:`Throughput`) and chooses epochs, steps per epoch and validation batches so
that the whole learning-rate schedule runs to its end inside the budget
(:func:`fit_schedule`); while training, :class:`BudgetClock` re-fits the steps of each
remaining epoch to the time actually left, so the run ends on time even when the machine
is slower or busier than the measurement said. The number of epochs stays fixed: the
schedule (a function of the epoch) always reaches its last epoch.

A fold's budget covers everything the fold does: the measurement, training, per-epoch
validation and checkpoints, and the final prediction of the fold's validation cases, whose
cost is estimated beforehand and kept back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from covplan.errors import CovplanError

NNUNET_EPOCHS = 1000
NNUNET_ITERATIONS_PER_EPOCH = 250
NNUNET_VALIDATION_ITERATIONS = 50
# At least this many epochs when fewer than nnU-Net's 250 steps per epoch fit: the poly
# schedule steps once per epoch, and 20 steps decay it smoothly enough.
MIN_SCHEDULE_EPOCHS = 20
# Per-epoch validation takes at most this share of the training time: the pseudo Dice
# only picks checkpoint_best, so it is not worth more.
MAX_EPOCH_OVERHEAD_SHARE = 0.1
# With a budget, checkpoints and the plot are written at most this often (and after the
# last epoch): the most training a killed run loses.
CHECKPOINT_INTERVAL_S = 60.0
# The final validation may be slower than its estimate (resampling, export); keep this
# much more back.
FINAL_VALIDATION_MARGIN = 1.25
# Epochs left when the training time is up still run (one step each) while the overrun
# stays under this share of the budget: a schedule that reaches its end is worth more.
OVERRUN_SHARE = 0.05


@dataclass(frozen=True)
class Throughput:
    """What one fold of one architecture and configuration costs on one device, measured."""

    device: str
    seconds_per_step: float  # one training step, data loading included
    seconds_per_validation_batch: float  # one per-epoch pseudo-Dice batch
    seconds_per_checkpoint: float  # the latest and best checkpoints and the plot, written
    final_validation_s: float  # predicting the fold's validation cases, estimated
    measured_steps: int
    measurement_s: float  # what measuring took, part of the budget

    @property
    def reserved_s(self) -> float:
        """Kept back from training: the final validation (with a margin), and the last
        epoch's checkpoints and plot with the final checkpoint."""
        return FINAL_VALIDATION_MARGIN * self.final_validation_s + 2 * self.seconds_per_checkpoint

    def as_dict(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Schedule:
    """Epochs, steps per epoch and validation batches that fit ``training_s`` seconds."""

    epochs: int
    iterations_per_epoch: int
    validation_iterations: int
    training_s: float

    @property
    def steps(self) -> int:
        return self.epochs * self.iterations_per_epoch

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "training_s": round(self.training_s, 1), "steps": self.steps}


def validation_iterations_for(throughput: Throughput, iterations_per_epoch: int) -> int:
    """Per-epoch validation batches: nnU-Net's 50 when they cost little next to the
    epoch's training, fewer (at least 1) so that they take at most a twentieth of it."""
    affordable = 0.05 * iterations_per_epoch * throughput.seconds_per_step / throughput.seconds_per_validation_batch
    return max(1, min(NNUNET_VALIDATION_ITERATIONS, int(affordable)))


def fit_schedule(throughput: Throughput, budget_s: float, spent_s: float) -> Schedule:
    """The schedule whose training, per-epoch validation and checkpoints, with what is
    ``spent_s`` already (building the network, the measurement) and the final validation,
    fill ``budget_s``: nnU-Net's 1000 x 250 when it fits, else as many steps as fit,
    spread over at least :data:`MIN_SCHEDULE_EPOCHS` epochs where the per-epoch costs allow."""
    reserved_s = throughput.reserved_s
    # Checkpoints are written every CHECKPOINT_INTERVAL_S of training and after the last epoch.
    checkpoint_share = throughput.seconds_per_checkpoint / (CHECKPOINT_INTERVAL_S + throughput.seconds_per_checkpoint)
    training_s = (budget_s - spent_s - reserved_s) * (1 - checkpoint_share)
    step = throughput.seconds_per_step
    epoch_end = throughput.seconds_per_validation_batch
    if training_s < step + epoch_end:
        needed_min = (budget_s - training_s + step + epoch_end) / 60
        raise CovplanError(f"a time budget of {budget_s / 60:.3g} min does not fit one training step here "
                           f"({step:.3g} s a step, {spent_s:.0f} s to set up and measure, "
                           f"{FINAL_VALIDATION_MARGIN * throughput.final_validation_s:.0f} s kept for the final "
                           f"validation); give --time-budget {math.ceil(needed_min * 10) / 10:g} or more")
    steps_that_fit = training_s / step
    most_epochs_for_overhead = max(1, int(MAX_EPOCH_OVERHEAD_SHARE * training_s / epoch_end))
    epochs = max(math.ceil(steps_that_fit / NNUNET_ITERATIONS_PER_EPOCH),
                 min(MIN_SCHEDULE_EPOCHS, most_epochs_for_overhead, int(steps_that_fit)))
    epochs = max(1, min(NNUNET_EPOCHS, epochs))
    validation_iterations = validation_iterations_for(throughput, int(steps_that_fit / epochs))
    epoch_end_s = validation_iterations * throughput.seconds_per_validation_batch
    iterations = iterations_that_fit(training_s / epochs, step, epoch_end_s)
    return Schedule(epochs, iterations, validation_iterations, training_s)


def iterations_that_fit(epoch_s: float, seconds_per_step: float, epoch_end_s: float) -> int:
    """Training steps in an epoch of ``epoch_s`` seconds of which ``epoch_end_s`` go to
    validation and writing, between 1 and nnU-Net's 250."""
    return max(1, min(NNUNET_ITERATIONS_PER_EPOCH, int((epoch_s - epoch_end_s) / seconds_per_step)))


def start_clock(budget_s: float | None, state: dict[str, Any] | None, elapsed: Callable[[], float],
                measure: Callable[[], Throughput]) -> BudgetClock:
    """A fold's clock: a resumed fold's from its checkpoint ``state`` (on ``budget_s``
    when given), else a new schedule fitted to ``budget_s`` from ``measure()``.
    ``elapsed()`` is the fold's time so far, read after measuring: that counts too."""
    if state is not None:
        return BudgetClock.from_state(state, budget_s, elapsed())
    throughput = measure()
    spent_s = elapsed()
    return BudgetClock(budget_s, throughput, fit_schedule(throughput, budget_s, spent_s), spent_s)


class BudgetClock:
    """Keeps a fold's training on its deadline: after each epoch the next epoch's steps are
    re-fitted to the time left, from the step time and epoch-end cost just observed.

    ``spent_s`` is what earlier runs of the fold used (``--resume`` continues on the rest).
    """

    def __init__(self, budget_s: float, throughput: Throughput, schedule: Schedule, spent_s: float = 0.0):
        self.budget_s, self.throughput, self.schedule = budget_s, throughput, schedule
        self.spent_before_s = spent_s
        self.started = time.monotonic()
        # Totals over the epochs observed: a mean is steadier than the last epoch on a busy machine.
        self.observed = {"iterations": 0, "training_s": 0.0, "epoch_end_s": 0.0, "epochs": 0}

    @property
    def spent_s(self) -> float:
        """Seconds of the budget used so far, by this run and earlier ones."""
        return self.spent_before_s + time.monotonic() - self.started

    @property
    def training_left_s(self) -> float:
        """Seconds left for training, the final checkpoint's and validation's share kept back."""
        return self.budget_s - self.throughput.reserved_s - self.spent_s

    def describe(self) -> str:
        """The schedule in one line, for the training log."""
        schedule, measured = self.schedule, self.throughput
        return (f"time budget {self.budget_s / 60:.1f} min: {schedule.epochs} epochs x "
                f"{schedule.iterations_per_epoch} iterations ({measured.seconds_per_step:.3g} s a step, "
                f"{schedule.validation_iterations} validation batches an epoch, "
                f"{FINAL_VALIDATION_MARGIN * measured.final_validation_s:.0f} s kept for the final validation)")

    @property
    def overrun(self) -> bool:
        """The training time is up by more than :data:`OVERRUN_SHARE` of the budget."""
        return self.training_left_s < -OVERRUN_SHARE * self.budget_s

    def observe_epoch(self, iterations: int, training_s: float, epoch_s: float) -> None:
        """Learn from an epoch: ``training_s`` of its ``epoch_s`` seconds went to ``iterations``
        training steps, the rest to validation, checkpoints and logs."""
        observed = self.observed
        observed["iterations"] += iterations
        observed["training_s"] += training_s
        observed["epoch_end_s"] += epoch_s - training_s
        observed["epochs"] += 1

    def next_epoch(self, epochs_left: int) -> tuple[int, float]:
        """Steps for the next epoch so that the ``epochs_left`` epochs end on the deadline,
        at the mean step time and epoch-end cost observed so far (before the first epoch,
        the measured ones), and the ``time.monotonic()`` by which its steps must end
        whatever their count: a busy machine cannot push the run past its budget."""
        observed = self.observed
        if observed["epochs"]:
            step_s = observed["training_s"] / max(1, observed["iterations"])
            epoch_end_s = observed["epoch_end_s"] / observed["epochs"]
        else:
            step_s = self.throughput.seconds_per_step
            epoch_end_s = self.schedule.validation_iterations * self.throughput.seconds_per_validation_batch
        epoch_s = self.training_left_s / max(1, epochs_left)
        return iterations_that_fit(epoch_s, step_s, epoch_end_s), time.monotonic() + epoch_s - epoch_end_s

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps so that ``--resume`` continues the same schedule."""
        return {"budget_s": self.budget_s, "throughput": self.throughput.as_dict(), "schedule": self.schedule.as_dict()}

    @classmethod
    def from_state(cls, state: dict[str, Any], budget_s: float | None, spent_s: float) -> BudgetClock:
        """The clock of a resumed fold: its schedule, on ``budget_s`` (default the
        checkpoint's) of which ``spent_s`` is used."""
        schedule = {key: value for key, value in state["schedule"].items() if key != "steps"}
        return cls(state["budget_s"] if budget_s is None else budget_s, Throughput(**state["throughput"]),
                   Schedule(**schedule), spent_s)
