"""Plans fitted to a time budget: plan with budget candidates, preprocess them, measure a
trainer of each on the device training will use, and keep what the rule of
:mod:`covplan.planning.budget_candidates` chooses."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from covplan.atomic import write_json_atomic
from covplan.conversion.raw_dataset import RawDataset
from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.planning.budget_candidates import (
    CandidateFit,
    apply_budget_choice,
    budget_candidates,
    refuse_cascade_budget,
    remove_unused_data,
)
from covplan.planning.plan import plan_dataset
from covplan.planning.schedule import fit_schedule_choosing_compile
from covplan.preprocessing import preprocess
from covplan.training import Trainer, TrainingSettings, load_training_inputs
from covplan.training.distributed import leave_process_group
from covplan.training.probe import measure_throughput
from covplan.work_folder import budget_record_path, plans_path, splits_path

logger = logging.getLogger(__name__)


def plan_for_budget(dataset_dir: Path | RawDataset, work_dir: Path, architectures: Sequence[str], budget_s: float,
                    configurations: Sequence[str] | None = None, device: str = "auto", num_workers: int | None = None,
                    test_time_mirroring: bool = True, num_processes: int = 2, **planning: Any) -> dict[str, Path]:
    """Plan ``dataset_dir`` with budget candidates, preprocess them and keep what fits
    ``budget_s`` seconds per fold (:func:`fit_plans_to_budget`); ``planning`` goes to
    :func:`covplan.planning.plan_dataset`. Returns each architecture's plans file."""
    refuse_cascade_budget(configurations)
    written = plan_dataset(dataset_dir, work_dir, architectures, configurations=configurations,
                           num_processes=num_processes, budget_candidates=True, **planning)
    preprocess(work_dir, architectures, None, num_processes)
    fit_plans_to_budget(work_dir, architectures, budget_s, device, num_workers, test_time_mirroring)
    return written


def fit_plans_to_budget(work_dir: Path, architectures: Sequence[str], budget_s: float, device: str = "auto",
                        num_workers: int | None = None, test_time_mirroring: bool = True) -> dict[str, Path]:
    """For each architecture's plans in ``work_dir`` (planned with budget candidates and
    preprocessed), measure every candidate, keep the chosen one under the main
    configuration's name, drop the others and their data, and write the budget record.
    Returns each architecture's record file."""
    work_dir = Path(work_dir)
    written = {}
    for architecture in architectures:
        plans_file = plans_path(work_dir, architecture)
        plans = read_json(plans_file, "plan again with `covplan plan --time-budget`")
        fits = {name: measure_candidate(work_dir, architecture, name, budget_s, device, num_workers,
                                        test_time_mirroring)
                for name in budget_candidates(plans, plans_file)}
        record = apply_budget_choice(plans, architecture, budget_s, fits)
        written[architecture] = budget_record_path(work_dir, architecture)
        write_json_atomic(written[architecture], record)
        write_json_atomic(plans_file, plans)
    remove_unused_data(work_dir)
    return written


def measure_candidate(work_dir: Path, architecture: str, configuration: str, budget_s: float, device: str,
                      num_workers: int | None, test_time_mirroring: bool) -> CandidateFit:
    """A trainer of the candidate on fold 0 (or every case without folds), measured, and
    the schedule that fits ``budget_s``."""
    started = time.monotonic()
    inputs = load_training_inputs(work_dir, architecture, configuration)
    fold = 0 if splits_path(work_dir).is_file() else "all"
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
        throughput, schedule = fit_schedule_choosing_compile(throughput, budget_s, setup_s)
    except CovplanError as error:
        problem = f"{architecture} {configuration}: {error}"
    logger.info("%s %s: %.3g s a step, %s", architecture, configuration, throughput.seconds_per_step,
                f"{schedule.steps} steps fit" if schedule is not None else "not one step fits")
    return CandidateFit(configuration, inputs.plans["configurations"][configuration], throughput, schedule, setup_s,
                        problem)
