"""The clock that keeps a fold's training on its time budget: after each epoch the next
epoch's steps are re-fitted to the time actually left, so the run ends on time even when
the machine is slower or busier than the measurement said. The number of epochs stays
fixed: the schedule (a function of the epoch) always reaches its last epoch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from covplan.planning.schedule import (
    FINAL_VALIDATION_MARGIN,
    Schedule,
    Throughput,
    fit_schedule_choosing_compile,
    iterations_that_fit,
)

# Epochs left when the training time is up still run (one step each) while the overrun
# stays under this share of the budget: a schedule that reaches its end is worth more.
OVERRUN_SHARE = 0.05


def start_clock(budget_s: float | None, state: dict[str, Any] | None, elapsed: Callable[[], float],
                measure: Callable[[], Throughput]) -> BudgetClock:
    """A fold's clock: a resumed fold's from its checkpoint ``state`` (on ``budget_s``
    when given), else a new schedule fitted to ``budget_s`` from ``measure()``.
    ``elapsed()`` is the fold's time so far, read after measuring: that counts too."""
    if state is not None:
        return BudgetClock.from_state(state, budget_s, elapsed())
    throughput = measure()
    spent_s = elapsed()
    throughput, schedule = fit_schedule_choosing_compile(throughput, budget_s, spent_s)
    return BudgetClock(budget_s, throughput, schedule, spent_s)


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
