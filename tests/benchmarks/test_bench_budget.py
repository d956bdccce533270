"""The budget benchmark's harness without training: which runs are left, resuming after a
kill, --max-minutes, and issue 34's target read off recorded runs."""

from __future__ import annotations

import json

import pytest

from tests.benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_budget") as module:
        yield module


def entry(budget: float, tool: str, seed: int, dice: tuple[float, float, float], mirroring: bool = False) -> dict:
    ggo, consolidation, infection = dice
    return {"budget_min": budget, "tool": tool, "seed": seed, "fold": 0, "mirroring": mirroring, "ggo": ggo,
            "consolidation": consolidation, "infection": infection, "minutes": budget - 0.5, "steps": 100,
            "plan": f"plan of {tool}", "date": "2026-12-08T01:00"}


def aggregated(budget: float, tool: str, dice: tuple[float, float, float], spread: float) -> dict:
    return {**entry(budget, tool, None, dice), "fold": None,
            "aggregated": {"runs": 2, "spread": {"ggo": spread, "consolidation": spread, "infection": spread}}}


def test_runs_already_recorded_are_skipped_and_each_new_one_is_written_when_it_ends(bench, tmp_path):
    results = tmp_path / "budget.json"
    results.write_text(json.dumps({"format_version": 1, "runs": [
        entry(10.0, "nnunet", 1, (0.5, 0.0, 0.5)),
        entry(10.0, "covplan", 1, (0.6, 0.2, 0.6), mirroring=True),  # another validation: not this run
        aggregated(25.0, "covplan", (0.6, 0.3, 0.7), 0.01)]}))  # no seed nor fold: stands for none
    requested = bench.requested_runs([10, 25], seeds=[1], folds=[0])
    left = bench.runs_to_do(requested, bench.read_results(results), mirroring=False)
    assert [run.key for run in left] == [(10.0, "covplan", 1, 0), (25.0, "nnunet", 1, 0), (25.0, "covplan", 1, 0)]

    now = [0.0]
    killed_at = [(25.0, "nnunet", 1, 0)]

    def run(item):
        if item.key in killed_at:
            raise KeyboardInterrupt
        now[0] += bench.estimated_seconds(item)
        return entry(item.budget_min, item.tool, item.seed, (0.7, 0.3, 0.7))

    with pytest.raises(KeyboardInterrupt):  # killed in the second run
        bench.common.run_and_record(left, results, bench.EXPERIMENT, "runs", run, bench.estimated_seconds, None,
                                    0.0, clock=lambda: now[0])
    recorded = bench.read_results(results)["runs"]
    assert len(recorded) == 4 and recorded[-1]["tool"] == "covplan" and recorded[-1]["budget_min"] == 10.0

    left = bench.runs_to_do(requested, bench.read_results(results), mirroring=False)
    assert [run.key for run in left] == [(25.0, "nnunet", 1, 0), (25.0, "covplan", 1, 0)]
    killed_at.clear()
    now[0] = 0.0
    # 35 minutes hold one 25-minute run with its overhead (30 min), not two.
    done = bench.common.run_and_record(left, results, bench.EXPERIMENT, "runs", run, bench.estimated_seconds, 35.0,
                                       0.0, clock=lambda: now[0])
    assert [run.key for run in done] == [(25.0, "nnunet", 1, 0)]
    assert len(bench.read_results(results)["runs"]) == 5


def test_the_table_gives_mean_and_spread_of_the_runs_and_an_aggregate_only_without_runs(bench):
    entries = [entry(10.0, "nnunet", 1, (0.40, 0.0, 0.50)), entry(10.0, "nnunet", 2, (0.50, 0.0, 0.60)),
               aggregated(10.0, "covplan", (0.9, 0.9, 0.9), 0.2),  # superseded by the single runs below
               entry(10.0, "covplan", 1, (0.60, 0.2, 0.70)), entry(10.0, "covplan", 2, (0.64, 0.2, 0.72)),
               aggregated(25.0, "covplan", (0.65, 0.3, 0.75), 0.01)]
    rows = bench.summary_table(entries, mirroring=False).splitlines()[2:]
    assert [row.split(" | ")[:6] for row in rows] == [
        ["| 10", "nnU-Net 2d, epochs shortened", "2", "0.450 +- 0.071", "0.000 +- 0.000", "0.550 +- 0.071"],
        ["| 10", "covplan --time-budget", "2", "0.620 +- 0.028", "0.200 +- 0.000", "0.710 +- 0.014"],
        ["| 25", "covplan --time-budget", "2", "0.650 +- 0.010", "0.300 +- 0.010", "0.750 +- 0.010"]]


def test_the_target_names_each_class_that_misses_and_each_drop_below_a_smaller_budget(bench):
    entries = [entry(10.0, "nnunet", 1, (0.50, 0.00, 0.50)), entry(10.0, "covplan", 1, (0.60, 0.20, 0.60)),
               entry(25.0, "nnunet", 1, (0.58, 0.10, 0.60)), entry(25.0, "covplan", 1, (0.61, 0.18, 0.70))]
    lines = bench.target_lines(entries, mirroring=False)
    assert lines[0] == ("10 min, covplan - nnU-Net: ggo +0.100, consolidation +0.200, infection +0.100: "
                        "meets +0.05 for every class")
    assert lines[1] == ("25 min, covplan - nnU-Net: ggo +0.030, consolidation +0.080, infection +0.100: "
                        "misses +0.05 for ggo by 0.020")
    assert lines[2] == "covplan 25 min against 10 min: below in consolidation by 0.020"
    assert len(lines) == 3


def test_the_committed_results_file_reports_its_budgets(bench):
    text = bench.report(bench.read_results(bench.RESULTS)["runs"], mirroring=False)
    assert "| 10 | covplan --time-budget |" in text
    assert "- 10 min, covplan - nnU-Net: ggo" in text


def test_each_tool_plans_once_per_budget_and_its_runs_record_what_they_trained(bench, tmp_path, monkeypatch):
    planned = []

    def plan_for_budget(dataset, work, architectures, budget_s, **options):
        planned.append(budget_s)
        work.mkdir(parents=True)
        (work / "budget_plain_unet.json").write_text(json.dumps({"chosen": "2d_x2", "reason": "fits more steps"}))

    def fake_run(tool):
        def run(work, fold, seed, device, size, *rest):  # nnU-Net gets epochs, covplan seconds
            return {"ggo": 0.5, "consolidation": 0.1, "infection": 0.6, "minutes": 9.87654, "steps": size,
                    "plan": f"{tool} plan in {work.name}"}
        return run

    monkeypatch.setattr("covplan.workflows.fit_budget.plan_for_budget", plan_for_budget)
    monkeypatch.setattr(bench, "planned_work", lambda dataset, work, *args, **kwargs: work)
    monkeypatch.setattr(bench, "nnunet_epoch_seconds", lambda work, device, workers: 171.0)
    monkeypatch.setattr(bench, "nnunet_run", fake_run("nnunet"))
    monkeypatch.setattr(bench, "covplan_run", fake_run("covplan"))
    workbench = bench.Workbench(tmp_path, tmp_path / "slices", bench.resolve_device("cpu"), 1, False)
    workbench.__dict__["dataset"] = tmp_path / "dataset"  # converted already
    entries = [workbench.run(run) for run in bench.requested_runs([10, 25], seeds=[1, 2], folds=[0])]
    assert planned == [600.0, 1500.0]  # once per budget, not per seed
    nnunet_10 = entries[0]
    assert (nnunet_10["tool"], nnunet_10["seed"], nnunet_10["epochs"], nnunet_10["steps"]) == ("nnunet", 1, 3, 3)
    assert nnunet_10["epoch_s"] == 171.0 and nnunet_10["minutes"] == 9.88
    covplan_25 = entries[-1]
    assert (covplan_25["budget_min"], covplan_25["seed"], covplan_25["steps"]) == (25.0, 2, 1500.0)
    assert (covplan_25["chosen"], covplan_25["reason"], covplan_25["plan"]) == (
        "2d_x2", "fits more steps", "covplan plan in covplan_work_25")
    assert covplan_25["origin"] == "benchmarks/bench_budget.py" and covplan_25["mirroring"] is False
