"""A schedule that fits a time budget: what a fold costs on a machine, and the epochs that fit.

nnU-Net's schedule is 1000 epochs of 250 steps whatever the compute; an nnU-Net user with
little of it shortens the epochs by hand (``nnUNetTrainer_Xepochs``) and keeps 50
validation batches per epoch. covplan measures what a step costs on the machine the run
uses (:class:`Throughput`, measured by :mod:`covplan.training.probe`) and chooses epochs,
steps per epoch and validation batches so that the whole learning-rate schedule runs to
its end inside the budget (:func:`fit_schedule`). While training,
:class:`covplan.training.budget_clock.BudgetClock` re-fits each remaining epoch to the
time actually left.

A fold's budget covers everything the fold does: the measurement, training, per-epoch
validation and checkpoints, and the final prediction of the fold's validation cases, whose
cost is estimated beforehand and kept back. Plain values and arithmetic: the planner fits
candidates with it before any trainer exists.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
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
    # With torch.compile: seconds_per_step is the compiled network's, compile_s what its
    # first call took beyond a step, and eager_seconds_per_step (when the probe timed both
    # ways) the step without compiling. See fit_schedule_choosing_compile.
    compiled: bool = False
    compile_s: float = 0.0
    eager_seconds_per_step: float | None = None

    @property
    def reserved_s(self) -> float:
        """Kept back from training: the final validation (with a margin), and the last
        epoch's checkpoints and plot with the final checkpoint."""
        return FINAL_VALIDATION_MARGIN * self.final_validation_s + 2 * self.seconds_per_checkpoint

    def as_dict(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}

    def eager(self) -> Throughput:
        """The throughput without compiling, where the probe timed both ways."""
        return replace(self, seconds_per_step=self.eager_seconds_per_step, compiled=False, compile_s=0.0,
                       eager_seconds_per_step=None)


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


def fit_schedule_choosing_compile(throughput: Throughput, budget_s: float, spent_s: float
                                  ) -> tuple[Throughput, Schedule]:
    """The throughput and schedule to train with: compiled when the probe timed both ways
    and the compiled schedule (its compile time spent) fits more steps than the eager one
    (that compile time not spent), else eager; :func:`fit_schedule` otherwise."""
    if not throughput.compiled or throughput.eager_seconds_per_step is None:
        return throughput, fit_schedule(throughput, budget_s, spent_s)
    eager = throughput.eager()
    fits, problem = [], None
    for candidate, spent in ((eager, spent_s - throughput.compile_s), (throughput, spent_s)):
        try:
            fits.append((candidate, fit_schedule(candidate, budget_s, spent)))
        except CovplanError as error:
            problem = error
    if not fits:
        raise problem
    return max(fits, key=lambda fit: fit[1].steps)  # the first, eager, on a tie


def iterations_that_fit(epoch_s: float, seconds_per_step: float, epoch_end_s: float) -> int:
    """Training steps in an epoch of ``epoch_s`` seconds of which ``epoch_end_s`` go to
    validation and writing, between 1 and nnU-Net's 250."""
    return max(1, min(NNUNET_ITERATIONS_PER_EPOCH, int((epoch_s - epoch_end_s) / seconds_per_step)))
