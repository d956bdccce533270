"""The schedule that fits a time budget, and the clock that keeps a run on it."""

from __future__ import annotations

import time

import pytest

from covplan.errors import CovplanError
from covplan.training import budget_clock as budget_module
from covplan.planning.schedule import (FINAL_VALIDATION_MARGIN, MIN_SCHEDULE_EPOCHS, NNUNET_EPOCHS, NNUNET_ITERATIONS_PER_EPOCH, Schedule, Throughput, fit_schedule, validation_iterations_for)
from covplan.training.budget_clock import BudgetClock


def throughput(step: float = 1.0, validation: float = 0.5, checkpoint: float = 0.0, final: float = 0.0,
               measurement: float = 0.0) -> Throughput:
    return Throughput(device="cpu", seconds_per_step=step, seconds_per_validation_batch=validation,
                      seconds_per_checkpoint=checkpoint, final_validation_s=final, measured_steps=4,
                      measurement_s=measurement)


def planned_seconds(measured: Throughput, schedule: Schedule) -> float:
    """What the schedule costs at the measured rates, before the final validation."""
    return schedule.epochs * (schedule.iterations_per_epoch * measured.seconds_per_step
                              + schedule.validation_iterations * measured.seconds_per_validation_batch)


def test_a_small_budget_spreads_its_steps_over_enough_epochs_to_decay():
    measured = throughput(step=1.0, validation=0.5)
    schedule = fit_schedule(measured, budget_s=1000, spent_s=0)
    assert schedule.epochs == MIN_SCHEDULE_EPOCHS
    assert schedule.validation_iterations == 5  # a twentieth of the epoch's 50 s; nnU-Net's 50 would take half
    assert 0.9 * 1000 <= planned_seconds(measured, schedule) <= 1000
    assert schedule.steps == MIN_SCHEDULE_EPOCHS * 47  # (1000 / 20 - 5 x 0.5) s of 1 s steps per epoch


def test_a_budget_for_more_than_nnunets_schedule_gets_nnunets_schedule():
    measured = throughput(step=0.01, validation=0.001)
    schedule = fit_schedule(measured, budget_s=1e6, spent_s=0)
    assert (schedule.epochs, schedule.iterations_per_epoch, schedule.validation_iterations) == \
        (NNUNET_EPOCHS, NNUNET_ITERATIONS_PER_EPOCH, 50)


def test_mid_size_budgets_keep_about_nnunets_epoch_length():
    measured = throughput(step=0.1, validation=0.05)
    schedule = fit_schedule(measured, budget_s=20_000, spent_s=0)  # 200,000 steps' worth
    assert schedule.epochs == 800
    assert 0.9 * NNUNET_ITERATIONS_PER_EPOCH < schedule.iterations_per_epoch <= NNUNET_ITERATIONS_PER_EPOCH
    assert 0.9 * 20_000 <= planned_seconds(measured, schedule) <= 20_000


def test_setup_final_validation_and_checkpoints_are_kept_out_of_the_training_time():
    measured = throughput(step=1.0, validation=0.5, checkpoint=6.0, final=100.0)
    schedule = fit_schedule(measured, budget_s=1000, spent_s=50)
    kept = 50 + FINAL_VALIDATION_MARGIN * 100 + 2 * 6  # the last epoch's checkpoints and the final one
    assert schedule.training_s == pytest.approx((1000 - kept) * (1 - 6 / 66))  # a checkpoint a minute
    assert planned_seconds(measured, schedule) <= schedule.training_s


def test_a_budget_without_room_for_one_step_names_the_budget_that_would_fit():
    with pytest.raises(CovplanError, match=r"does not fit one training step.*--time-budget 1\.1 or more"):
        fit_schedule(throughput(step=10.0, final=40.0), budget_s=60, spent_s=0)


def test_validation_batches_cost_at_most_a_twentieth_of_the_epoch():
    assert validation_iterations_for(throughput(step=1.0, validation=0.1), 100) == 50
    assert validation_iterations_for(throughput(step=1.0, validation=0.5), 100) == 10
    assert validation_iterations_for(throughput(step=1.0, validation=5.0), 10) == 1


def test_the_clock_gives_later_epochs_fewer_steps_when_steps_turn_out_slower(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: now[0])
    measured = throughput(step=1.0, validation=0.0)
    clock = BudgetClock(200.0, measured, Schedule(epochs=4, iterations_per_epoch=50, validation_iterations=1,
                                                  training_s=200.0))
    assert clock.next_epoch(epochs_left=4) == (50, 1050.0)
    now[0] += 100.0  # the first epoch's 50 steps took 100 s: 2 s a step
    clock.observe_epoch(iterations=50, training_s=100.0, epoch_s=100.0)
    iterations, deadline = clock.next_epoch(epochs_left=3)
    assert iterations == 16  # 100 s left for 3 epochs at 2 s a step
    assert deadline == pytest.approx(1100.0 + 100.0 / 3)
    assert not clock.overrun
    now[0] += 120.0
    assert clock.overrun  # 20 s over a 200 s budget: more than the 5 % grace


def test_the_clock_state_resumes_the_same_schedule_on_the_time_left():
    clock = BudgetClock(300.0, throughput(), Schedule(5, 10, 1, 250.0))
    resumed = BudgetClock.from_state(clock.state(), budget_s=None, spent_s=120.0)
    assert resumed.schedule == clock.schedule and resumed.throughput == clock.throughput
    assert resumed.budget_s == 300.0
    assert resumed.spent_s == pytest.approx(120.0, abs=1.0)
    assert BudgetClock.from_state(clock.state(), budget_s=600.0, spent_s=0.0).budget_s == 600.0


def test_the_clock_counts_from_its_start(monkeypatch):
    clock = BudgetClock(100.0, throughput(), Schedule(1, 1, 1, 100.0), spent_s=10.0)
    time.sleep(0.01)
    assert 10.0 < clock.spent_s < 11.0


def test_a_new_clock_counts_the_measurement_as_spent():
    now = [0.0]

    def measure():
        now[0] += 30.0  # measuring took 30 s
        return throughput(step=1.0, validation=0.5)

    clock = budget_module.start_clock(300.0, None, lambda: now[0], measure)
    assert clock.spent_before_s == 30.0
    assert clock.schedule.training_s == pytest.approx(270.0)
