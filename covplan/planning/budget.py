"""Plans for the compute a user has: ``covplan plan --time-budget MINUTES``.

nnU-Net plans for an 8 GB GPU and 1000 epochs of 250 steps. With a time budget covplan
also plans, beside the main configuration (``3d_fullres``, else ``2d``), the same
configuration at a coarser spacing (:data:`SPACING_FACTORS`, planned by nnU-Net's own
rules the way it plans ``3d_lowres``: patch, batch and topology for that spacing),
preprocesses both, times a few real training steps of each on the device training will
use (:func:`covplan.training.probe.measure_throughput`), fits the schedule of each to the
budget (:func:`covplan.training.budget.fit_schedule`) and keeps the one the rule in
:func:`choose_configuration` prefers, under the main configuration's name: training,
prediction and export then use it as they would nnU-Net's plan. What was measured and
chosen goes to ``WORK/budget_<arch>.json`` and the plans' explanation
(``covplan plan --explain``). Without ``--time-budget`` the plans stay nnU-Net's.

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

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json

logger = logging.getLogger(__name__)

SPACING_FACTORS = (2.0,)
CANDIDATE_MARK = "_x"  # "2d_x2": the 2d configuration at twice its spacing
# A coarser candidate is planned only while the median image keeps this many voxels along
# each in-plane axis: below it lesions shrink to a few voxels (the experiments of
# docs/planning.md coarsen 398 x 361 slices to 199 x 180; none went smaller).
MIN_CANDIDATE_IN_PLANE_VOXELS = 128
# The rule: the full-resolution plan needs this many training steps in the budget to beat
# its coarser candidate (docs/planning.md, "Planning for a time budget").
MIN_FULL_RESOLUTION_STEPS = 300
BUDGET_RECORD = "budget_{architecture}.json"


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
    from covplan.planning.plan import shared_data_identifier

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
    throughput: Any  # covplan.training.budget.Throughput
    schedule: Any  # covplan.training.budget.Schedule or None when not even one step fits
    setup_s: float
    problem: str | None = None  # why no schedule fits

    def as_dict(self) -> dict[str, Any]:
        return {"spacing": self.plan["spacing"], "patch_size": self.plan["patch_size"],
                "batch_size": self.plan["batch_size"], "setup_s": round(self.setup_s, 2),
                "throughput": self.throughput.as_dict(),
                "schedule": self.schedule.as_dict() if self.schedule is not None else None,
                **({"problem": self.problem} if self.problem else {})}


def choose_configuration(main: CandidateFit, coarser: Sequence[CandidateFit]) -> tuple[CandidateFit, str]:
    """The rule: the main (full-resolution) configuration when at least
    :data:`MIN_FULL_RESOLUTION_STEPS` of its steps fit the budget (or no coarser one
    fits), else the coarser candidate with the most steps; and why."""
    fitting = [fit for fit in coarser if fit.schedule is not None]
    if main.schedule is not None and not coarser:
        return main, (f"{main.schedule.steps} steps fit; no coarser plan (a preset fixes the configuration, or "
                      f"the images are too small to coarsen)")
    if main.schedule is not None and (main.schedule.steps >= MIN_FULL_RESOLUTION_STEPS or not fitting):
        return main, (f"{main.schedule.steps} steps of the full-resolution plan fit (>= "
                      f"{MIN_FULL_RESOLUTION_STEPS}, or no coarser plan fits): kept")
    if not fitting:
        raise CovplanError(main.problem or "the time budget does not fit one training step of any planned "
                                           "configuration; give a larger --time-budget")
    best = max(fitting, key=lambda fit: fit.schedule.steps)
    full_steps = main.schedule.steps if main.schedule is not None else 0
    return best, (f"only {full_steps} steps of the full-resolution plan fit (< {MIN_FULL_RESOLUTION_STEPS}); "
                  f"{best.configuration} at spacing {_shape(best.plan['spacing'])} mm fits {best.schedule.steps}, "
                  f"which reach a higher Dice in the experiments of docs/planning.md")


def fit_plans_to_budget(work_dir: Path, architectures: Sequence[str], budget_s: float, device: str = "auto",
                        num_workers: int | None = None, test_time_mirroring: bool = True) -> dict[str, Path]:
    """For each architecture's plans in ``work_dir`` (planned with budget candidates and
    preprocessed), measure every candidate, keep the chosen one under the main
    configuration's name, drop the others and their data, and write the budget record.
    Returns each architecture's record file."""
    from covplan.planning.plan import plans_path

    work_dir = Path(work_dir)
    written = {}
    for architecture in architectures:
        plans = read_json(plans_path(work_dir, architecture), "plan again with `covplan plan --time-budget`")
        planned = plans["covplan"].pop("budget_candidates", None)
        if planned is None:
            raise CovplanError(f"{plans_path(work_dir, architecture)} was not planned for a time budget; plan with "
                               f"`covplan plan ... --time-budget MINUTES`")
        main_name, candidates = planned["configuration"], planned["candidates"]
        fits = {name: _measure(work_dir, architecture, name, budget_s, device, num_workers, test_time_mirroring)
                for name in [main_name, *candidates]}
        chosen, reason = choose_configuration(fits[main_name], [fits[name] for name in candidates])
        logger.info("%s: %s", architecture, reason)
        record = {"format_version": 1, "architecture": architecture, "budget_min": round(budget_s / 60, 3),
                  "scope": "per fold", "device": fits[main_name].throughput.device, "configuration": main_name,
                  "chosen": chosen.configuration, "reason": reason,
                  "candidates": {name: fit.as_dict() for name, fit in fits.items()}}
        plans["configurations"] = {name: plan for name, plan in plans["configurations"].items()
                                   if not is_candidate(name)}
        plans["configurations"][main_name] = chosen.plan
        explanation = plans["covplan"]["explanation"]
        explanation[main_name] = [*explanation.pop(chosen.configuration, explanation[main_name]),
                                  *budget_explanation(record)]
        for name in candidates:
            explanation.pop(name, None)
        plans["covplan"]["budget"] = {key: record[key] for key in ("budget_min", "device", "chosen", "reason")}
        written[architecture] = work_dir / BUDGET_RECORD.format(architecture=architecture)
        write_json_atomic(written[architecture], record)
        write_json_atomic(plans_path(work_dir, architecture), plans)
    remove_unused_data(work_dir)
    return written


def _measure(work_dir: Path, architecture: str, configuration: str, budget_s: float, device: str,
             num_workers: int | None, test_time_mirroring: bool) -> CandidateFit:
    """A trainer of the candidate on fold 0 (or every case without folds), measured."""
    import time

    from covplan.training.budget import fit_schedule
    from covplan.training.distributed import leave_process_group
    from covplan.training.probe import measure_throughput
    from covplan.training.settings import TrainingSettings
    from covplan.training.trainer import Trainer
    from covplan.training.work_folder import load_training_inputs

    started = time.monotonic()
    inputs = load_training_inputs(work_dir, architecture, configuration)
    fold = 0 if (work_dir / "splits_final.json").is_file() else "all"
    settings = TrainingSettings(device=device, num_workers=num_workers, test_time_mirroring=test_time_mirroring)
    trainer = Trainer(inputs, fold, settings)
    try:
        throughput = measure_throughput(trainer)
    finally:
        trainer.shutdown_loaders()
        leave_process_group()
    setup_s = time.monotonic() - started
    schedule, problem = None, None
    try:
        schedule = fit_schedule(throughput, budget_s, setup_s)
    except CovplanError as error:
        problem = f"{architecture} {configuration}: {error}"
    logger.info("%s %s: %.3g s a step, %s", architecture, configuration, throughput.seconds_per_step,
                f"{schedule.steps} steps fit" if schedule is not None else "not one step fits")
    return CandidateFit(configuration, inputs.plans["configurations"][configuration], throughput, schedule, setup_s,
                        problem)


def budget_summary(work_dir: Path, architecture: str) -> str | None:
    """One line on what the budget chose for ``architecture`` in ``work_dir`` (None
    without a budget record)."""
    path = Path(work_dir) / BUDGET_RECORD.format(architecture=architecture)
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
        lines.append(f"  {name}: spacing {_shape(candidate['spacing'])} mm, patch {_shape(candidate['patch_size'])}, "
                     f"batch {candidate['batch_size']}: {throughput['seconds_per_step']:.3g} s a step; {fit}; "
                     f"{throughput['final_validation_s']:.0f} s kept for the final validation")
    lines.append(f"chosen {record['chosen']}: {record['reason']}")
    return lines


def remove_unused_data(work_dir: Path) -> None:
    """Delete the preprocessed data folders no plans file in ``work_dir`` names any more
    (those of candidates not chosen): covplan wrote them, and they can be rebuilt."""
    used = set()
    for plans_file in work_dir.glob("plans_*.json"):
        for plan in read_json(plans_file, "plan again")["configurations"].values():
            used.add(plan.get("data_identifier"))
    for folder in work_dir.glob("covplan_*"):
        if folder.is_dir() and folder.name not in used:
            shutil.rmtree(folder)


def _shape(values: Sequence[float]) -> str:
    return " x ".join(f"{float(value):.3g}" for value in values)


def refuse_cascade_budget(configurations: Sequence[str] | None) -> None:
    """A time budget fits one configuration's plans, but the cascade's two stages share theirs."""
    from covplan.training.work_folder import CASCADE

    if configurations and CASCADE in configurations:
        raise CovplanError("--time-budget fits the plans of one configuration, but the cascade's two stages share "
                           "theirs; plan and train the cascade without --time-budget, or give each fold one with "
                           "`covplan train --time-budget`")


def plan_for_budget(dataset_dir: Path, work_dir: Path, architectures: Sequence[str], budget_s: float,
                    configurations: Sequence[str] | None = None, device: str = "auto", num_workers: int | None = None,
                    test_time_mirroring: bool = True, num_processes: int = 2, **planning: Any) -> dict[str, Path]:
    """Plan ``dataset_dir`` with budget candidates, preprocess them and keep what fits
    ``budget_s`` seconds per fold (:func:`fit_plans_to_budget`); ``planning`` goes to
    :func:`covplan.planning.plan_dataset`. Returns each architecture's plans file."""
    from covplan.planning.plan import plan_dataset
    from covplan.preprocessing import preprocess

    refuse_cascade_budget(configurations)
    written = plan_dataset(dataset_dir, work_dir, architectures, configurations=configurations,
                           num_processes=num_processes, budget_candidates=True, **planning)
    preprocess(work_dir, architectures, None, num_processes)
    fit_plans_to_budget(work_dir, architectures, budget_s, device, num_workers, test_time_mirroring)
    return written
