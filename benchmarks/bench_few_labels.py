"""Learning from few labels on phantoms, where the answer is known: fine-tuning from a
model trained on other phantoms against training from random weights, at equal minutes.

The source: ``--source-cases`` COVID-SemiSeg-like phantom slices (``covplan demo-data
--kind semiseg``, one seed) trained on every case (fold ``all``, as nnU-Net pretrains) for
``--source-minutes``. The target: ``--target-cases`` phantoms of another seed (the few
labelled cases), split into ``NUM_SPLITS`` folds. Both arms train the same folds of the
target with the same seeds, the same plans (the source's, moved to the target: the
comparison isolates the initial weights) and the same ``--time-budget`` per fold; one starts
from the source (``--init-from``), one from random weights. The table gives Dice per class
(mean +- standard deviation over seeds and folds) and the minutes used. The minutes spent
training the source are not charged to the fine-tuned arm: the source stands for a model
someone else trained.

    python benchmarks/bench_few_labels.py --budgets 2 5 --folds 0 1 2 --seeds 1 2 3
    python benchmarks/bench_few_labels.py --quick     # proves the harness in a few minutes
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from pathlib import Path

from bench_budget import CLASSES, fold_class_dice, mean_and_spread
from common import markdown_table, record, resolve_device, run_in_scratch_folder

NUM_SPLITS = 3
SOURCE_SEED, TARGET_SEED = 11, 23  # other phantoms: other shapes, positions and lesions
logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-cases", type=int, default=40, help="Phantom slices the source model trains on.")
    parser.add_argument("--source-minutes", type=float, default=10.0, help="Minutes to train the source model.")
    parser.add_argument("--target-cases", type=int, default=9, help="Labelled phantom slices of the target.")
    parser.add_argument("--size", type=int, default=64, help="Pixels a side of every phantom slice.")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.0, 5.0], help="Minutes per target fold.")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2], help=f"Folds of the {NUM_SPLITS}-fold split.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Training seeds.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--workers", type=int, default=1, help="Augmentation workers.")
    parser.add_argument("--quick", action="store_true",
                        help="A 1-minute source, one 1-minute budget, fold 0, seed 1, 24 source cases: proves the "
                             "harness.")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.source_cases, arguments.source_minutes = 24, 1.0
        arguments.budgets, arguments.folds, arguments.seeds = [1.0], [0], [1]
    run_in_scratch_folder("covplan-few-labels-", lambda root: run(arguments, root), arguments.workers)


def phantoms(root: Path, name: str, num_cases: int, size: int, seed: int) -> Path:
    """``num_cases`` semiseg phantom slices of ``seed``, converted by the slices converter."""
    from covplan.conversion.base import get_converter
    from covplan.demo_data.layouts import write_demo_data

    raw = write_demo_data(root / f"raw_{name}", "semiseg", num_cases=num_cases, size=size, seed=seed)
    get_converter("slices").convert(raw, root / name)
    return root / name


def run(arguments: argparse.Namespace, root: Path) -> None:
    from covplan.training import TrainingSettings, train_fold
    from covplan.workflows.init_from import open_source_model
    from covplan.workflows.plan import plan_and_preprocess

    device = resolve_device(arguments.device)
    source_data = phantoms(root, "source", arguments.source_cases, arguments.size, SOURCE_SEED)
    target_data = phantoms(root, "target", arguments.target_cases, arguments.size, TARGET_SEED)
    source_work = root / "source_work"
    plan_and_preprocess(source_data, source_work, ["plain_unet"], then_preprocess=True, configurations=["2d"],
                        num_processes=2)
    train_fold(source_work, "plain_unet", "all", "2d",
               TrainingSettings(time_budget_s=60 * arguments.source_minutes, device=device.type,
                                num_workers=arguments.workers, evaluate=False))
    source_folder = source_work / "plain_unet__2d"
    plan_and_preprocess(target_data, root / "target_work", [], then_preprocess=True, init_from=source_folder,
                        num_folds=NUM_SPLITS)
    source = open_source_model(source_folder, root / "target_work")
    results: dict[tuple[float, str], list[dict]] = {}
    for budget in arguments.budgets:
        for arm, init_from in (("from random weights", None), ("fine-tuned (--init-from)", source)):
            work = Path(shutil.copytree(root / "target_work", root / f"work_{budget:g}_{init_from is not None}"))
            for seed in arguments.seeds:
                for fold in arguments.folds:
                    settings = TrainingSettings(time_budget_s=60 * budget, seed=seed, device=device.type,
                                                num_workers=arguments.workers, test_time_mirroring=False)
                    started = time.monotonic()
                    train_fold(work, "plain_unet", fold, "2d", settings, init_from=init_from)
                    validation = work / "plain_unet__2d" / f"fold_{fold}" / "validation"
                    results.setdefault((budget, arm), []).append(
                        {**fold_class_dice(work, validation), "minutes": (time.monotonic() - started) / 60})
                    logger.info("budget %g, %s, seed %d, fold %d: %s", budget, arm, seed, fold,
                                results[(budget, arm)][-1])
    rows = [[f"{budget:g}", arm, len(runs), *[mean_and_spread([run.get(name) for run in runs]) for name in CLASSES],
             f"{statistics.mean(run['minutes'] for run in runs):.1f}"] for (budget, arm), runs in results.items()]
    record(f"Few labels: fine-tuning from other phantoms vs random weights at equal minutes, device {device.type}",
           markdown_table(["budget min", "start", "runs", *[f"Dice {name}" for name in CLASSES], "minutes used"],
                          rows),
           notes=[f"source: {arguments.source_cases} semiseg phantom slices (seed {SOURCE_SEED}, {arguments.size} px) "
                  f"trained on fold all for {arguments.source_minutes:g} min; target: {arguments.target_cases} other "
                  f"phantoms (seed {TARGET_SEED}), folds {arguments.folds} of {NUM_SPLITS}, seeds {arguments.seeds}",
                  "both arms: the source's plans moved to the target, the same budget per fold; validation without "
                  "mirroring; Dice: mean +- standard deviation over seeds and folds of the fold's mean over slices"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
