"""Quality at equal minutes: covplan ``plan-and-train --time-budget T`` against nnU-Net's 2d
configuration with its epochs shortened to the same T, on the 50 real COVID-SemiSeg slices.

What an nnU-Net user with little compute does: keep nnU-Net's plan, its trainer and its 50
validation batches per epoch, shorten the epochs (here to 20 steps, as in issue 14) and
train as many epochs as fit T, judged from the epoch time (measured here on the same plan,
as a user reads it off the first epoch). covplan gets the same T per fold and plans,
measures and schedules for it (``covplan.workflows.fit_budget``). Both run the same folds of
the same 5-fold split with the same seeds and validate without test-time mirroring
(``--mirroring`` to keep it); every run reports Dice per class (mean over the fold's slices,
nnU-Net's summary), the minutes it used (training and validation) and the steps it trained.
The table gives mean and standard deviation over seeds and folds.

    python benchmarks/bench_budget.py --budgets 10 25 --folds 0 1 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from pathlib import Path

from bench_quality import train_nnunet_fold
from common import SHARED_DATA, markdown_table, planned_work, record, resolve_device, run_in_scratch_folder

NUM_SPLITS = 5
NNUNET_ITERATIONS_PER_EPOCH = 20  # the "9 x 20 steps" recipe
NNUNET_VALIDATION_ITERATIONS = 50  # nnU-Net's default, which a user shortening epochs keeps
CLASSES = ("ggo", "consolidation", "infection")
logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="COVID-SemiSeg training slices (Imgs/, GT/).")
    parser.add_argument("--budgets", type=float, nargs="+", default=[10.0, 25.0], help="Minutes per fold.")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1], help=f"Folds of the {NUM_SPLITS}-fold split.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="Training seeds.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--workers", type=int, default=1, help="Augmentation workers of both trainers.")
    parser.add_argument("--mirroring", action="store_true", help="Validate with test-time mirroring.")
    parser.add_argument("--quick", action="store_true", help="One 1-minute budget, fold 0, seed 1: proves the harness.")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.budgets, arguments.folds, arguments.seeds = [1.0], [0], [1]
    if not (arguments.slices_dir / "Imgs").is_dir():
        print(f"bench_budget skipped: no COVID-SemiSeg slices in {arguments.slices_dir} (Imgs/ and GT/); "
              f"pass --slices-dir")
        return
    run_in_scratch_folder("bench_budget_", lambda root: run(arguments, root), arguments.workers)


def run(arguments: argparse.Namespace, root: Path) -> None:
    from covplan.workflows.fit_budget import plan_for_budget
    from covplan.conversion.base import get_converter

    device = resolve_device(arguments.device)
    dataset = root / "dataset"
    get_converter("slices").convert(arguments.slices_dir, dataset)
    nnunet_work = planned_work(dataset, root / "nnunet_work", ["plain_unet"], "2d", folds=NUM_SPLITS)
    nnunet_epoch_s = nnunet_epoch_seconds(nnunet_work, device, arguments.workers)
    results: dict[tuple[float, str], list[dict]] = {}
    notes = []
    for budget in arguments.budgets:
        work = root / f"covplan_work_{budget:g}"
        started = time.monotonic()
        plan_for_budget(dataset, work, ["plain_unet"], 60 * budget, configurations=["2d"], device=device.type,
                        num_workers=arguments.workers, test_time_mirroring=arguments.mirroring,
                        num_folds=NUM_SPLITS)
        planning_min = (time.monotonic() - started) / 60
        budget_record = json.loads((work / "budget_plain_unet.json").read_text())
        notes.append(f"{budget:g} min: covplan chose {budget_record['chosen']} ({budget_record['reason']}); "
                     f"planning with the measurements took {planning_min:.1f} min, once per dataset")
        nnunet_epochs = max(1, math.floor(60 * budget / nnunet_epoch_s))
        for seed in arguments.seeds:
            for fold in arguments.folds:
                results.setdefault((budget, "nnU-Net 2d, epochs shortened"), []).append(
                    nnunet_run(nnunet_work, fold, seed, device, nnunet_epochs, arguments.mirroring))
                results.setdefault((budget, "covplan --time-budget"), []).append(
                    covplan_run(work, fold, seed, device, 60 * budget, arguments.workers, arguments.mirroring))
                logger.info("budget %g seed %d fold %d: %s", budget, seed, fold,
                            {tool: runs[-1] for (b, tool), runs in results.items() if b == budget})
    rows = [[f"{budget:g}", tool, len(runs), *[mean_and_spread([run[name] for run in runs]) for name in CLASSES],
             f"{statistics.mean(run['minutes'] for run in runs):.1f}",
             f"{statistics.mean(run['steps'] for run in runs):.0f}", runs[0]["plan"]]
            for (budget, tool), runs in results.items()]
    record(f"Quality at equal minutes: covplan --time-budget vs nnU-Net with shortened epochs, device {device.type}",
           markdown_table(["budget min", "model", "runs", *[f"Dice {name}" for name in CLASSES], "minutes used",
                           "steps", "plan"], rows),
           notes=[f"data: the 50 COVID-SemiSeg slices, slices converter, folds {arguments.folds} of {NUM_SPLITS}, "
                  f"seeds {arguments.seeds}; validation {'with' if arguments.mirroring else 'without'} mirroring",
                  f"nnU-Net: {NNUNET_ITERATIONS_PER_EPOCH} steps and {NNUNET_VALIDATION_ITERATIONS} validation "
                  f"batches per epoch, {nnunet_epoch_s:.0f} s an epoch measured, epochs = budget / epoch time",
                  "Dice: mean +- standard deviation over seeds and folds of the fold's mean over slices "
                  "(a slice without the class in both counts no Dice); minutes: training and validation",
                  *notes])


def nnunet_epoch_seconds(work: Path, device, workers: int) -> float:
    """One epoch of the nnU-Net recipe on this plan, from covplan's throughput probe on
    the same network, data loader and device (nnU-Net's plain_unet plans)."""
    from covplan.training.probe import measure_throughput
    from covplan.training import Trainer, TrainingSettings
    from covplan.training.inputs import load_training_inputs

    trainer = Trainer(load_training_inputs(work, "plain_unet", "2d"), 0,
                      TrainingSettings(device=device.type, num_workers=workers))
    try:
        measured = measure_throughput(trainer)
    finally:
        trainer.shutdown_loaders()
    return (NNUNET_ITERATIONS_PER_EPOCH * measured.seconds_per_step
            + NNUNET_VALIDATION_ITERATIONS * measured.seconds_per_validation_batch)


def nnunet_run(work: Path, fold: int, seed: int, device, epochs: int, mirroring: bool) -> dict:
    from covplan.training.checkpoints import seed_everything

    seed_everything(seed)
    started = time.monotonic()
    model_folder = train_nnunet_fold(work, fold, device, epochs, NNUNET_ITERATIONS_PER_EPOCH,
                                     NNUNET_VALIDATION_ITERATIONS, mirroring)
    minutes = (time.monotonic() - started) / 60
    plan = json.loads((work / "plans_plain_unet.json").read_text())["configurations"]["2d"]
    return {**fold_class_dice(work, model_folder / f"fold_{fold}" / "validation"), "minutes": minutes,
            "steps": epochs * NNUNET_ITERATIONS_PER_EPOCH, "plan": plan_text(plan)}


def covplan_run(work: Path, fold: int, seed: int, device, budget_s: float, workers: int, mirroring: bool) -> dict:
    from covplan.training import TrainingSettings, train_fold

    settings = TrainingSettings(time_budget_s=budget_s, seed=seed, device=device.type, num_workers=workers,
                                test_time_mirroring=mirroring)
    started = time.monotonic()
    train_fold(work, "plain_unet", fold, "2d", settings)
    minutes = (time.monotonic() - started) / 60
    fold_folder = work / "plain_unet__2d" / f"fold_{fold}"
    steps = json.loads((fold_folder / "fold_time.json").read_text())["steps"]
    plan = json.loads((work / "plans_plain_unet.json").read_text())["configurations"]["2d"]
    return {**fold_class_dice(work, fold_folder / "validation"), "minutes": minutes, "steps": steps,
            "plan": plan_text(plan)}


def fold_class_dice(work: Path, validation_folder: Path) -> dict[str, float | None]:
    """Dice per class and of the merged infection, scored the same way for both tools."""
    from covplan.evaluation import evaluate_folder
    from covplan.training.fold_validation import fold_dice

    dataset_json = json.loads((work / "dataset.json").read_text())
    summary = evaluate_folder(work / "gt_segmentations", validation_folder,
                              validation_folder / "covplan_summary.json", dataset_json=dataset_json, num_processes=1,
                              allow_missing_predictions=True)
    return {name: value for name, value in fold_dice(summary).items() if name in CLASSES}


def plan_text(plan: dict) -> str:
    return (f"patch {'x'.join(map(str, plan['patch_size']))}, batch {plan['batch_size']}, spacing "
            f"{'x'.join(f'{s:g}' for s in plan['spacing'])} mm")


def mean_and_spread(values: list[float | None]) -> str:
    defined = [value for value in values if value is not None and not math.isnan(value)]
    if not defined:
        return "-"
    spread = statistics.stdev(defined) if len(defined) > 1 else 0.0
    return f"{statistics.mean(defined):.3f} +- {spread:.3f}"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
