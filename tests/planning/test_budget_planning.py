"""Planning for a time budget: candidates at coarser spacings, measured, and the rule that
keeps one of them under the main configuration's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.planning import budget_candidates as budget_module
from covplan.planning.budget_candidates import coarser_spacing
from covplan.planning.learning_curves import LearningCurves
from covplan.workflows.fit_budget import plan_for_budget


@pytest.mark.parametrize(("spacing", "coarser"), [
    ([1.0, 1.0], [2.0, 2.0]),
    ([0.8, 0.7, 0.7], [1.6, 1.4, 1.4]),
    ([5.0, 0.7, 0.7], [5.0, 1.4, 1.4]),  # the anisotropic axis is coarse enough already
])
def test_coarser_spacing_coarsens_the_finer_axes(spacing, coarser):
    assert coarser_spacing(spacing, 2.0) == pytest.approx(coarser)


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
    coarse_wins = LearningCurves({1.0: 0.1, 2.0: 0.9}, {1.0: 1.0, 2.0: 1.0}, 0.5, {1.0: 0, 2.0: 0},
                                 {1.0: (1, 10), 2.0: (1, 10)}, 0.04, "test")
    monkeypatch.setattr(budget_module, "load_learning_curves", lambda: coarse_wins)
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
    assert record["reason"].startswith("expected mean lesion Dice 2d_x2 ")
    assert f"chosen 2d_x2: {record['reason']}" in result.output
    assert coarse["expected_dice"] > full["expected_dice"] and record["learning_curves"] == "test"

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
