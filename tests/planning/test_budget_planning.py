"""Planning for a time budget: candidates at coarser spacings, measured, and the rule that
keeps one of them under the main configuration's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.planning import budget_candidates as budget_module
from covplan.planning.budget_candidates import CandidateFit, choose_configuration, coarser_spacing
from covplan.planning.schedule import Schedule, Throughput
from covplan.workflows.fit_budget import plan_for_budget


@pytest.mark.parametrize(("spacing", "coarser"), [
    ([1.0, 1.0], [2.0, 2.0]),
    ([0.8, 0.7, 0.7], [1.6, 1.4, 1.4]),
    ([5.0, 0.7, 0.7], [5.0, 1.4, 1.4]),  # the anisotropic axis is coarse enough already
])
def test_coarser_spacing_coarsens_the_finer_axes(spacing, coarser):
    assert coarser_spacing(spacing, 2.0) == pytest.approx(coarser)


def fit(name: str, steps: int | None) -> CandidateFit:
    throughput = Throughput("cpu", 1.0, 0.5, 0.0, 0.0, 4, 1.0)
    schedule = Schedule(steps, 1, 1, float(steps)) if steps is not None else None
    return CandidateFit(name, {"spacing": [2.0, 2.0]}, throughput, schedule, 1.0)


def test_the_rule_keeps_full_resolution_when_enough_of_its_steps_fit():
    many = budget_module.MIN_FULL_RESOLUTION_STEPS
    chosen, reason = choose_configuration(fit("2d", many), [fit("2d_x2", 6 * many)])
    assert chosen.configuration == "2d" and "kept" in reason


def test_the_rule_goes_coarser_when_few_full_resolution_steps_fit():
    few = budget_module.MIN_FULL_RESOLUTION_STEPS // 2
    chosen, reason = choose_configuration(fit("2d", few), [fit("2d_x2", 6 * few), fit("2d_x3", None)])
    assert chosen.configuration == "2d_x2"
    assert f"only {few} steps of the full-resolution plan fit" in reason


def test_the_rule_takes_what_fits_and_refuses_when_nothing_does():
    assert choose_configuration(fit("2d", None), [fit("2d_x2", 40)])[0].configuration == "2d_x2"
    assert choose_configuration(fit("2d", 40), [fit("2d_x2", None)])[0].configuration == "2d"
    chosen, reason = choose_configuration(fit("2d", 40), [])
    assert chosen.configuration == "2d" and "too small to coarsen" in reason
    with pytest.raises(CovplanError, match="does not fit one training step of any planned configuration"):
        choose_configuration(fit("2d", None), [fit("2d_x2", None)])


@pytest.mark.slow
def test_images_too_small_to_coarsen_get_no_candidate_and_keep_the_plan(raw_2d: Path, tmp_path: Path):
    work = tmp_path / "work"
    plan_for_budget(raw_2d, work, ["plain_unet"], 120.0, num_processes=1)
    record = json.loads((work / "budget_plain_unet.json").read_text())
    assert list(record["candidates"]) == ["2d"] and record["chosen"] == "2d"  # 48 x 40 slices stay as they are
    assert "too small to coarsen" in record["reason"]
    assert "budget_candidates" not in json.loads((work / "plans_plain_unet.json").read_text())["covplan"]


@pytest.mark.slow
def test_plan_with_a_time_budget_measures_chooses_and_keeps_only_the_choice(raw_2d: Path, tmp_path: Path,
                                                                             monkeypatch):
    monkeypatch.setattr(budget_module, "MIN_FULL_RESOLUTION_STEPS", 10**9)  # the coarser plan wins
    monkeypatch.setattr(budget_module, "MIN_CANDIDATE_IN_PLANE_VOXELS", 8)  # the tiny slices may be coarsened
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, ["plan", str(raw_2d), "-o", str(work), "--time-budget", "2", "--explain",
                                      "-j", "1"])
    assert result.exit_code == 0, result.output
    record = json.loads((work / "budget_plain_unet.json").read_text())
    assert record["configuration"] == "2d" and record["chosen"] == "2d_x2"
    assert record["budget_min"] == 2 and record["device"] == "cpu"
    full, coarse = record["candidates"]["2d"], record["candidates"]["2d_x2"]
    assert coarse["spacing"] == pytest.approx([2 * s for s in full["spacing"]])
    for candidate in (full, coarse):
        assert candidate["throughput"]["seconds_per_step"] > 0 and candidate["schedule"]["steps"] >= 1
        assert candidate["throughput"]["final_validation_s"] > 0  # fold 0's slices, predicted

    plans = json.loads((work / "plans_plain_unet.json").read_text())
    assert list(plans["configurations"]) == ["2d"]  # the candidate is the 2d configuration now
    chosen = plans["configurations"]["2d"]
    assert chosen["spacing"] == coarse["spacing"] and chosen["patch_size"] == coarse["patch_size"]
    assert plans["covplan"]["budget"]["chosen"] == "2d_x2"
    assert sorted(p.name for p in work.glob("covplan_2d_*")) == [chosen["data_identifier"]]  # the other is gone
    assert not list(work.glob(".probe_*")) and not list(work.glob("plain_unet__*"))
    assert "time budget 2 min per fold on cpu" in result.output
    assert "chosen 2d_x2: only" in result.output

    from covplan.training.inputs import load_training_inputs
    assert load_training_inputs(work, "plain_unet").configuration_manager.spacing == coarse["spacing"]
    assert budget_module.budget_summary(work, "plain_unet") == \
        f"plain_unet: time budget 2 min per fold on cpu: 2d_x2 ({record['reason']})"
    assert budget_module.budget_summary(work, "qchc_unet") is None


@pytest.mark.parametrize("command", ["plan", "plan-and-train"])
def test_a_time_budget_for_the_cascade_is_refused_before_any_work(command, raw_3d, tmp_path):
    from click.testing import CliRunner

    from covplan.cli import cli

    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [command, str(raw_3d), "-o", str(work), "-c", "3d_cascade_fullres",
                                      "--time-budget", "1"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: --time-budget fits the plans of one configuration, but the cascade's two stages share theirs; plan "
        "and train the cascade without --time-budget, or give each fold one with `covplan train --time-budget`")
    assert not work.exists()
