"""The crossover experiment's harness without training: schedules, resuming from the results
file, --max-minutes, and the report's curves and crossover on synthetic cells whose
crossover is known."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_crossover") as module:
        yield module


@pytest.fixture(scope="module")
def crossover_report(bench):
    return sys.modules["crossover_report"]


def synthetic_cells(candidate: str, steps: list[int], a: float, b: float, c: float, seconds_per_step: float,
                    seeds=(1, 2)) -> list[dict]:
    """Cells on ``Dice = a - b * steps^-c`` for every class, the seeds 0.01 either side."""
    cells = []
    for count in steps:
        for seed, offset in zip(seeds, (-0.01, 0.01)):
            dice = a - b * count ** -c + offset
            cells.append({"candidate": candidate, "steps": count, "seed": seed, "fold": 0,
                          "dice": {"ggo": dice, "consolidation": dice, "infection": dice},
                          "seconds_per_step": seconds_per_step, "wall_s": count * seconds_per_step,
                          "plan": f"plan of {candidate}", "date": "2026-12-07T18:00", "machine": "test machine",
                          "commit": "abc1234", "origin": "benchmarks/bench_crossover.py"})
    return cells


# In minutes m: 2d trains 15 m steps (4 s each), 2d_x2 60 m (1 s each); 0.8 - 2 / sqrt(15 m) =
# 0.6 - 1 / sqrt(60 m) at sqrt(m) = (2 / sqrt(15) - 1 / sqrt(60)) / 0.2, m = 3.75.
KNOWN_CROSSOVER_MIN = ((2 / 15**0.5 - 1 / 60**0.5) / 0.2) ** 2
FULL = {"a": 0.8, "b": 2.0, "c": 0.5, "seconds_per_step": 4.0}
COARSE = {"a": 0.6, "b": 1.0, "c": 0.5, "seconds_per_step": 1.0}


@pytest.mark.parametrize(("steps", "schedule"), [(45, (9, 5)), (285, (19, 15)), (420, (20, 21)), (10, (2, 5)),
                                                 (101, (20, 5)), (1, (1, 1))])
def test_a_cell_trains_about_20_epochs_of_at_least_5_steps(bench, steps, schedule):
    assert bench.schedule_for_steps(steps) == schedule


def test_cells_already_recorded_are_skipped_and_each_new_one_is_written_when_it_ends(bench, tmp_path):
    results = tmp_path / "crossover.json"
    recorded = synthetic_cells("2d_x2", [300], **COARSE, seeds=(1,))
    aggregated = {**synthetic_cells("2d", [45], **FULL, seeds=(1,))[0], "seed": None, "fold": None,
                  "aggregated": {"runs": 4, "spread": {}}}
    results.write_text(json.dumps({"format_version": 1, "cells": [*recorded, aggregated]}))
    requested = bench.requested_cells({"2d": [45, 100], "2d_x2": [300]}, seeds=[1, 2], folds=[0])
    step_s = {"2d": 4.0, "2d_x2": 1.0}
    left = bench.cells_to_run(requested, bench.read_results(results), step_s, cheapest_first=True)
    # (2d_x2, 300, seed 1) is recorded; the docs' aggregated 2d entry holds no seed and fold.
    assert [cell.key for cell in left] == [("2d", 45, 1, 0), ("2d", 45, 2, 0), ("2d_x2", 300, 2, 0),
                                           ("2d", 100, 1, 0), ("2d", 100, 2, 0)]

    now = [0.0]
    killed_at = [("2d_x2", 300, 2, 0)]

    def train(cell):
        if cell.key in killed_at:
            raise KeyboardInterrupt
        now[0] += bench.estimated_seconds(cell, step_s)
        return {"candidate": cell.candidate, "steps": cell.steps, "seed": cell.seed, "fold": cell.fold,
                "dice": {"ggo": 0.1}, "wall_s": 1.0, "seconds_per_step": step_s[cell.candidate]}

    with pytest.raises(KeyboardInterrupt):  # killed while training the third cell
        bench.run_cells(left, results, train, step_s, None, 0.0, clock=lambda: now[0])
    assert [cell["seed"] for cell in bench.read_results(results)["cells"] if cell["steps"] == 45] == [None, 1, 2]

    left = bench.cells_to_run(requested, bench.read_results(results), step_s, cheapest_first=True)
    assert [cell.key for cell in left] == [("2d_x2", 300, 2, 0), ("2d", 100, 1, 0), ("2d", 100, 2, 0)]
    killed_at.clear()
    now[0] = 0.0
    # 12 minutes: 300 steps of 2d_x2 (6 min with the overhead) fit; then 100 of 2d (7.7 min) do not.
    done = bench.run_cells(left, results, train, step_s, 12.0, 0.0, clock=lambda: now[0])
    assert [cell.key for cell in done] == [("2d_x2", 300, 2, 0)]
    assert len(bench.read_results(results)["cells"]) == 5


def test_requested_minutes_become_steps_on_the_given_step_times(bench):
    assert bench.steps_from_minutes([5, 60], {"2d": 4.0, "2d_x2": 0.8}) == {"2d": [75, 900], "2d_x2": [375, 4500]}


def test_the_crossover_of_synthetic_power_laws_is_found_where_it_is(crossover_report):
    cells = (synthetic_cells("2d", [20, 60, 150, 400, 1000], **FULL)
             + synthetic_cells("2d_x2", [60, 200, 600, 1600, 4000], **COARSE))
    points = crossover_report.points_of(cells)
    full = crossover_report.fit_curve([p for p in points if p.candidate == "2d"], "ggo")
    coarse = crossover_report.fit_curve([p for p in points if p.candidate == "2d_x2"], "ggo")
    assert full.kind == coarse.kind == "power law"
    assert full.parameters["a"] == pytest.approx(0.8, abs=0.01) and full.parameters["c"] == pytest.approx(0.5, abs=0.02)
    crossover = crossover_report.find_crossover("2d", full, 4.0, "2d_x2", coarse, 1.0)
    assert len(crossover.minutes) == 1
    assert crossover.minutes[0] == pytest.approx(KNOWN_CROSSOVER_MIN, rel=0.03)
    assert crossover.ahead_at_low == "2d_x2"
    assert crossover.describe().startswith(f"{crossover.minutes[0]:.3g} min (2d_x2 ahead below")


def test_few_step_counts_are_interpolated_and_no_crossover_is_claimed_outside_the_measured_range(crossover_report):
    # Measured only above 4 min: 2d ahead throughout, the crossover lies below.
    cells = (synthetic_cells("2d", [100, 300, 900], **FULL) + synthetic_cells("2d_x2", [400, 1200], **COARSE))
    points = crossover_report.points_of(cells)
    full = crossover_report.fit_curve([p for p in points if p.candidate == "2d"], "infection")
    coarse = crossover_report.fit_curve([p for p in points if p.candidate == "2d_x2"], "infection")
    assert full.kind == coarse.kind == "interpolation"
    assert np.isnan(full.function(np.array([50.0])))[0]  # no extrapolation
    crossover = crossover_report.find_crossover("2d", full, 4.0, "2d_x2", coarse, 1.0)
    assert crossover.minutes == ()
    assert (crossover.low, crossover.high) == pytest.approx((400 / 60, 20.0))
    assert crossover.describe() == "not within the measured range (2d ahead from 6.67 to 20 min)"


def test_the_report_tables_curves_crossover_and_plot_of_a_results_file(crossover_report, tmp_path):
    cells = (synthetic_cells("2d", [20, 60, 150, 400, 1000], **FULL)
             + synthetic_cells("2d_x2", [60, 200, 600, 1600, 4000], **COARSE))
    image = tmp_path / "images" / "crossover.png"
    block = crossover_report.report(cells, image, "images/crossover.png")
    assert image.read_bytes().startswith(b"\x89PNG")
    lines = block.splitlines()
    assert "`2d` (plan of 2d; 4 s a step):" in lines
    assert "| 150 | 10 | 2 | 0.637 +- 0.014 | 0.637 +- 0.014 | 0.637 +- 0.014 |" in lines
    assert "| `2d_x2` | ggo | Dice = 0.600 - 1 x steps^-0.5 |" in lines
    crossover_row = next(line for line in lines if line.startswith("| ggo | 3.7"))
    assert "min (2d_x2 ahead below; measured 1.33 to 66.7 min)" in crossover_row
    assert "- machines: test machine" in lines
    assert "| `2d` | 0 | 0.800 - 2 x steps^-0.5 | 20 to 1000 |" in lines  # the budget rule's curves
    assert "| `2d_x2` | 0 | 0.600 - 1 x steps^-0.5 | 60 to 4000 |" in lines
    assert lines[-1] == "![Dice against minutes per candidate](images/crossover.png)"


def test_the_committed_results_file_reports(bench, crossover_report, tmp_path):
    cells = bench.read_results(bench.RESULTS)["cells"]
    assert {cell["origin"] for cell in cells if cell.get("aggregated")} == {
        "docs/planning.md, 'The experiments behind the rule', 4 minutes of training steps",
        "docs/benchmarks.md, 'Quality at equal minutes' of 2026-12-02: covplan --time-budget 10 (2d_x2)"}
    # The docs' step times, given: the fastest recorded ones change as cells accumulate.
    block = crossover_report.report(cells, tmp_path / "crossover.png", "crossover.png", {"2d": 5.02, "2d_x2": 0.82})
    assert "| 45 (docs, aggregated) | 3.76 | 4 | 0.006 +- 0.010 | 0.000 +- 0.000 | 0.005 +- 0.009 |" in block
    assert "| 285 (docs, aggregated) | 3.9 | 4 | 0.495 +- 0.078 | 0.095 +- 0.095 | 0.611 +- 0.026 |" in block


def test_the_budget_rules_curves_are_fitted_to_the_cells_and_written_with_their_evidence(crossover_report,
                                                                                          tmp_path):
    from covplan.planning.learning_curves import load_learning_curves

    cells = (synthetic_cells("2d", [20, 60, 150, 400], a=0.8, b=3.0, c=0.5, seconds_per_step=4.0)
             + synthetic_cells("2d_x2", [60, 200, 600, 1600], a=0.6, b=2.0, c=0.5, seconds_per_step=1.0))
    # The seeds sit 0.01 either side of the curve: a standard deviation of 0.01 * sqrt(2).
    assert crossover_report.between_run_spread(cells) == pytest.approx(0.01 * 2**0.5)
    path = tmp_path / "learning_curves.json"
    crossover_report.write_curves(cells, path, "synthetic cells")
    curves = load_learning_curves(path)
    assert curves.plateau[1.0] == pytest.approx(0.8, abs=1e-3) and curves.plateau[2.0] == pytest.approx(0.6, abs=1e-3)
    assert curves.scale[1.0] == pytest.approx(3.0, rel=1e-2) and curves.scale[2.0] == pytest.approx(2.0, rel=1e-2)
    assert curves.exponent == pytest.approx(0.5, abs=1e-3) and curves.measured_steps == {1.0: (20, 400),
                                                                                           2.0: (60, 1600)}
    points = json.loads(path.read_text())["points"]
    assert {"spacing_factor": 2.0, "steps": 600, "dice": round(0.6 - 2 / 600**0.5, 4), "runs": 2} in points
    with pytest.raises(ValueError, match="run a second seed"):
        crossover_report.between_run_spread([cell for cell in cells if cell["seed"] == 1])
