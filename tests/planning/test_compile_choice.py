"""A time budget compiles only when the compiled steps win back the compile time."""

from __future__ import annotations

from covplan.planning.schedule import Throughput, fit_schedule, fit_schedule_choosing_compile


def measured(compile_s: float, compiled_step: float = 0.5, eager_step: float = 1.0) -> Throughput:
    return Throughput(device="cuda", seconds_per_step=compiled_step, seconds_per_validation_batch=0.1,
                      seconds_per_checkpoint=0.0, final_validation_s=0.0, measured_steps=4, measurement_s=1.0,
                      compiled=True, compile_s=compile_s, eager_seconds_per_step=eager_step)


def test_a_long_budget_keeps_the_compiled_network():
    throughput, schedule = fit_schedule_choosing_compile(measured(compile_s=60), budget_s=3600, spent_s=70)
    assert throughput.compiled and throughput.seconds_per_step == 0.5
    assert schedule == fit_schedule(measured(compile_s=60), 3600, 70)


def test_a_budget_the_compile_time_would_eat_trains_eager_on_the_time_compiling_took():
    throughput, schedule = fit_schedule_choosing_compile(measured(compile_s=300), budget_s=400, spent_s=310)
    assert not throughput.compiled and throughput.seconds_per_step == 1.0 and throughput.compile_s == 0
    assert schedule == fit_schedule(throughput, 400, 10)


def test_without_an_eager_measurement_the_schedule_is_the_plain_fit():
    plain = Throughput("cpu", 1.0, 0.5, 0.0, 0.0, 4, 1.0)
    assert fit_schedule_choosing_compile(plain, 1000, 0) == (plain, fit_schedule(plain, 1000, 0))
