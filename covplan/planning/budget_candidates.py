"""Plans for the compute a user has: ``covplan plan --time-budget MINUTES``.

nnU-Net plans for an 8 GB GPU and 1000 epochs of 250 steps. With a time budget covplan
also plans, beside the main configuration (``3d_fullres``, else ``2d``), the same
configuration at a coarser spacing (:data:`SPACING_FACTORS`, planned by nnU-Net's own
rules the way it plans ``3d_lowres``: patch, batch and topology for that spacing),
preprocesses both, times a few real training steps of each on the device training will
use (:func:`covplan.training.probe.measure_throughput`), fits the schedule of each to the
budget (:func:`covplan.planning.schedule.fit_schedule`) and keeps the one the rule in
:func:`choose_configuration` prefers, under the main configuration's name: training,
prediction and export then use it as they would nnU-Net's plan. What was measured and
chosen goes to ``WORK/budget_<arch>.json`` and the plans' explanation
(``covplan plan --explain``). Without ``--time-budget`` the plans stay nnU-Net's.

This module holds the planning side: the candidates, the rule and the records. The
measuring, which builds a trainer, is a workflow: :mod:`covplan.workflows.fit_budget`.

The rule comes from experiments on the 50 real COVID-SemiSeg slices, reported in
docs/planning.md ("Planning for a time budget").
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.planning.data_identifier import shared_data_identifier
from covplan.planning.learning_curves import LearningCurves, load_learning_curves
from covplan.planning.schedule import NNUNET_EPOCHS, NNUNET_ITERATIONS_PER_EPOCH, Schedule, Throughput
from covplan.work_folder import CASCADE, DATA_FOLDER_PREFIX, budget_record_path, planned_plans

logger = logging.getLogger(__name__)

SPACING_FACTORS = (2.0,)
CANDIDATE_MARK = "_x"  # "2d_x2": the 2d configuration at twice its spacing
# A coarser candidate is planned only while the median image keeps this many voxels along
# each in-plane axis: below it lesions shrink to a few voxels (the experiments of
# docs/planning.md coarsen 398 x 361 slices to 199 x 180; none went smaller).
MIN_CANDIDATE_IN_PLANE_VOXELS = 128
# The rule allows for measured step times this far off either way: on the same machine type
# a loaded run measured 4.3 s a step, an idle one 3.0 s (issue 34).
CLOCK_ERROR = 1.3


def candidate_name(configuration: str, factor: float) -> str:
    return f"{configuration}{CANDIDATE_MARK}{factor:g}"


def is_candidate(configuration: str) -> bool:
    return CANDIDATE_MARK in configuration


def coarser_spacing(spacing: Sequence[float], factor: float) -> list[float]:
    """``spacing`` x ``factor`` along every axis finer than ``factor`` times the finest;
    a coarse (anisotropic) axis stays as it is, as nnU-Net's 3d_lowres leaves it first."""
    finest = min(spacing)
    return [float(s * factor) if s < factor * finest else float(s) for s in spacing]


def plan_candidates(planner, plans: dict[str, Any], configuration: str) -> dict[str, dict[str, Any]]:
    """The budget candidates of ``configuration``: nnU-Net's planner run again at each
    coarser spacing (patch, batch, topology and the plugin's memory by its rules), with
    the median shape and dataset size scaled as nnU-Net scales them for 3d_lowres."""
    main = plans["configurations"][configuration]
    record = planner.records[configuration]
    candidates = {}
    if planner.preset is not None and configuration in planner.preset.configurations:
        logger.info("no budget candidates: preset %s fixes %s", planner.preset.name, configuration)
        return candidates
    for factor in SPACING_FACTORS:
        name = candidate_name(configuration, factor)
        spacing = coarser_spacing(main["spacing"], factor)
        scale = np.array(main["spacing"]) / np.array(spacing)
        median_shape = [round(float(s)) for s in np.array(record.median_shape) * scale]
        if min(median_shape[-2:]) < MIN_CANDIDATE_IN_PLANE_VOXELS:
            logger.info("no %s candidate: its median image would be %s voxels", name, median_shape)
            continue
        voxels = record.approximate_n_voxels_dataset * float(np.prod(scale))
        planner.configurations = (*planner.configurations, name)  # so the plugin's memory is measured
        plan = planner.get_plans_for_configuration(np.array(spacing), median_shape,
                                                   f"{planner.plans_identifier}_{name}", voxels, {})
        plan = json.loads(json.dumps(plan, default=_json_number))
        plan["batch_dice"] = main.get("batch_dice", True)
        plan["data_identifier"] = shared_data_identifier(configuration, plan, plans)
        plan["architecture"] = planner.plugin.nnunet_architecture(plan)
        candidates[name] = plan
    return candidates


def _json_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value.tolist()


@dataclass(frozen=True)
class CandidateFit:
    """One candidate configuration's measured throughput and the schedule that fits."""

    configuration: str
    plan: dict[str, Any]
    throughput: Throughput
    schedule: Schedule | None  # None when not even one step fits
    setup_s: float
    problem: str | None = None  # why no schedule fits

    def as_dict(self) -> dict[str, Any]:
        return {"spacing": self.plan["spacing"], "patch_size": self.plan["patch_size"],
                "batch_size": self.plan["batch_size"], "setup_s": round(self.setup_s, 2),
                "throughput": self.throughput.as_dict(),
                "schedule": self.schedule.as_dict() if self.schedule is not None else None,
                **({"problem": self.problem} if self.problem else {})}


def spacing_factor(configuration: str) -> float:
    """1 for the main configuration, the factor of a candidate's name (``2d_x2``: 2)."""
    return float(configuration.split(CANDIDATE_MARK)[1]) if is_candidate(configuration) else 1.0


def expected_dice(fit: CandidateFit, curves: LearningCurves, clock_error: float = 1.0) -> float | None:
    """The mean lesion Dice the learning curves expect of ``fit``'s schedule (None when no
    step fits), or of the steps that would fit were every step ``clock_error`` times slower."""
    if fit.schedule is None:
        return None
    return curves.expected_dice(spacing_factor(fit.configuration), fit.schedule.steps / clock_error)


def worst_shortfall(fit: CandidateFit, fitting: Sequence[CandidateFit], curves: LearningCurves) -> float:
    """How far below the best of ``fitting`` the curves expect ``fit`` at worst, were the
    measured step times :data:`CLOCK_ERROR` too slow, right or too fast."""
    shortfalls = []
    for error in (1 / CLOCK_ERROR, 1.0, CLOCK_ERROR):
        best = max(expected_dice(other, curves, error) for other in fitting)
        shortfalls.append(best - expected_dice(fit, curves, error))
    return max(shortfalls)


def choose_configuration(main: CandidateFit, coarser: Sequence[CandidateFit], curves: LearningCurves
                         ) -> tuple[CandidateFit, str]:
    """The rule: the candidate the learning ``curves`` expect closest to the best even if the
    measured step times are :data:`CLOCK_ERROR` off either way (the least worst-case
    shortfall, so a step time measured on a loaded machine cannot trade a clearly better
    model for a worse one), but nnU-Net's plan (``main``) while its worst case is within
    ``curves.margin`` of that (covplan departs from it only for more than run-to-run
    noise); and why."""
    fitting = [fit for fit in (main, *coarser) if fit.schedule is not None]
    if main.schedule is not None and not coarser:
        return main, (f"{main.schedule.steps} steps fit; no coarser plan (a preset fixes the configuration, or "
                      f"the images are too small to coarsen)")
    if not fitting:
        raise CovplanError(main.problem or "the time budget does not fit one training step of any planned "
                                           "configuration; give a larger --time-budget")
    if len(fitting) == 1:
        return fitting[0], f"only {fitting[0].configuration} fits a training step in the budget"
    if main.schedule is not None and main.schedule.steps >= NNUNET_EPOCHS * NNUNET_ITERATIONS_PER_EPOCH:
        # The curves were measured far below this; nnU-Net's plan with its own schedule is
        # what the user would train without a budget.
        return main, (f"nnU-Net's whole schedule ({NNUNET_EPOCHS} x {NNUNET_ITERATIONS_PER_EPOCH} steps) of its "
                      f"plan fits: the budget constrains nothing")
    shortfall = {fit.configuration: worst_shortfall(fit, fitting, curves) for fit in fitting}
    safest = min(fitting, key=lambda fit: shortfall[fit.configuration])
    kept = main.schedule is not None and shortfall[main.configuration] <= shortfall[safest.configuration] + curves.margin
    chosen = main if kept else safest
    figures = "; ".join(f"{fit.configuration} {expected_dice(fit, curves):.3f} at {fit.schedule.steps} steps"
                        f"{_extrapolated(fit, curves)}" for fit in (chosen, *(f for f in fitting if f is not chosen)))
    behind = ", ".join(f"{fit.configuration} {shortfall[fit.configuration]:.3f}" for fit in fitting)
    reason = (f"expected mean lesion Dice {figures}; at worst behind the best with step times "
              f"{(CLOCK_ERROR - 1) * 100:.0f} % off: {behind}")
    if chosen is not safest:
        reason += f"; within {curves.margin:.3f} (half the spread between runs), so nnU-Net's plan is kept"
    return chosen, reason + " (learning curves of docs/planning.md)"


def _extrapolated(fit: CandidateFit, curves: LearningCurves) -> str:
    factor = spacing_factor(fit.configuration)
    if curves.is_measured(factor, fit.schedule.steps):
        return ""
    if fit.schedule.steps <= curves.onset[factor]:
        return f" (not past its onset: still no lesion after {curves.onset[factor]} steps in the experiment)"
    low, high = curves.measured_steps[factor]
    return f" (extrapolated: measured {low} to {high} steps)"


def apply_budget_choice(plans: dict[str, Any], architecture: str, budget_s: float,
                        fits: dict[str, CandidateFit], curves: LearningCurves | None = None) -> dict[str, Any]:
    """Choose among the measured ``fits`` of ``plans``'s budget candidates (the main
    configuration's first), keep the chosen plan under the main configuration's name and
    drop the candidates from ``plans`` (in place). ``curves``: the shipped learning curves
    unless given. Returns the budget record."""
    curves = curves if curves is not None else load_learning_curves()
    planned = plans["covplan"].pop("budget_candidates")
    main_name, candidates = planned["configuration"], planned["candidates"]
    chosen, reason = choose_configuration(fits[main_name], [fits[name] for name in candidates], curves)
    logger.info("%s: %s", architecture, reason)
    record = {"format_version": 1, "architecture": architecture, "budget_min": round(budget_s / 60, 3),
              "scope": "per fold", "device": fits[main_name].throughput.device, "configuration": main_name,
              "chosen": chosen.configuration, "reason": reason,
              "learning_curves": curves.source,
              "candidates": {name: {**fit.as_dict(), "expected_dice": _rounded(expected_dice(fit, curves))}
                             for name, fit in fits.items()}}
    plans["configurations"] = {name: plan for name, plan in plans["configurations"].items()
                               if not is_candidate(name)}
    plans["configurations"][main_name] = chosen.plan
    explanation = plans["covplan"]["explanation"]
    explanation[main_name] = [*explanation.pop(chosen.configuration, explanation[main_name]),
                              *budget_explanation(record)]
    for name in candidates:
        explanation.pop(name, None)
    plans["covplan"]["budget"] = {key: record[key] for key in ("budget_min", "device", "chosen", "reason")}
    return record


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def budget_candidates(plans: dict[str, Any], plans_file: Path) -> list[str]:
    """The configurations to measure in ``plans`` (read from ``plans_file``): the main one
    first, then its coarser candidates; refused when it was not planned for a budget."""
    planned = plans["covplan"].get("budget_candidates")
    if planned is None:
        raise CovplanError(f"{plans_file} was not planned for a time budget; plan with "
                           f"`covplan plan ... --time-budget MINUTES`")
    return [planned["configuration"], *planned["candidates"]]


def budget_summary(work_dir: Path, architecture: str) -> str | None:
    """One line on what the budget chose for ``architecture`` in ``work_dir`` (None
    without a budget record)."""
    path = budget_record_path(work_dir, architecture)
    if not path.is_file():
        return None
    record = read_json(path, "plan again with `covplan plan --time-budget`")
    return (f"{architecture}: time budget {record['budget_min']:g} min per fold on {record['device']}: "
            f"{record['chosen']} ({record['reason']})")


def budget_explanation(record: dict[str, Any]) -> list[str]:
    """The ``--explain`` lines of a budget record."""
    lines = [f"time budget {record['budget_min']:g} min per fold on {record['device']}: measured every candidate "
             f"(a few training steps, validation batches, a checkpoint write) and fitted its schedule"]
    for name, candidate in record["candidates"].items():
        schedule, throughput = candidate["schedule"], candidate["throughput"]
        fit = (f"{schedule['epochs']} epochs x {schedule['iterations_per_epoch']} steps = {schedule['steps']} steps, "
               f"{schedule['validation_iterations']} validation batches an epoch" if schedule else "no step fits")
        expected = candidate.get("expected_dice")  # absent from records before the learning curves
        lines.append(f"  {name}: spacing {_shape(candidate['spacing'])} mm, patch {_shape(candidate['patch_size'])}, "
                     f"batch {candidate['batch_size']}: {throughput['seconds_per_step']:.3g} s a step; {fit}; "
                     f"{throughput['final_validation_s']:.0f} s kept for the final validation"
                     + (f"; expected mean lesion Dice {expected:.3f}" if expected is not None else ""))
    lines.append(f"chosen {record['chosen']}: {record['reason']}")
    return lines


def remove_unused_data(work_dir: Path) -> None:
    """Delete the preprocessed data folders no plans file in ``work_dir`` names any more
    (those of candidates not chosen): covplan wrote them, and they can be rebuilt."""
    used = set()
    for plans_file in planned_plans(work_dir).values():
        for plan in read_json(plans_file, "plan again")["configurations"].values():
            used.add(plan.get("data_identifier"))
    for folder in work_dir.glob(f"{DATA_FOLDER_PREFIX}*"):
        if folder.is_dir() and folder.name not in used:
            shutil.rmtree(folder)


def _shape(values: Sequence[float]) -> str:
    return " x ".join(f"{float(value):.3g}" for value in values)


def refuse_cascade_budget(configurations: Sequence[str] | None) -> None:
    """A time budget fits one configuration's plans, but the cascade's two stages share theirs."""
    if configurations and CASCADE in configurations:
        raise CovplanError("--time-budget fits the plans of one configuration, but the cascade's two stages share "
                           "theirs; plan and train the cascade without --time-budget, or give each fold one with "
                           "`covplan train --time-budget`")
