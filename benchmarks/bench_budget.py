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

A run is one (budget, seed, fold, tool). Each run goes to a results file in the repository
(default ``benchmarks/results/budget.json``) as soon as it ends; a run already there is
skipped, so the 10-, 25- and 60-minute budgets (about 4 x their minutes on two cores) can
be spread over sessions, and a kill loses only the running run. ``--max-minutes`` starts no
run that would end later. The table and issue 34's target (covplan >= nnU-Net + 0.05 Dice
for every class at every budget, and never below covplan's own result at a smaller budget)
are made from every run in the file; ``--report`` trains nothing and prints them.

    python benchmarks/bench_budget.py --budgets 10 25 60 --folds 0 --seeds 1 2 --max-minutes 170
    python benchmarks/bench_budget.py --report
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from bench_quality import train_nnunet_fold
from common import (BENCHMARKS_MD, REPO_ROOT, SHARED_DATA, markdown_table, planned_work, record, resolve_device,
                    run_in_scratch_folder)

NUM_SPLITS = 5
NNUNET_ITERATIONS_PER_EPOCH = 20  # the "9 x 20 steps" recipe
NNUNET_VALIDATION_ITERATIONS = 50  # nnU-Net's default, which a user shortening epochs keeps
CLASSES = ("ggo", "consolidation", "infection")
RESULTS = REPO_ROOT / "benchmarks" / "results" / "budget.json"
EXPERIMENT = __doc__.splitlines()[0]
# The two tools of a (budget, seed, fold), in the order they run and the table lists them.
TOOLS = {"nnunet": "nnU-Net 2d, epochs shortened", "covplan": "covplan --time-budget"}
# Issue 34: covplan's mean Dice at least nnU-Net's + this, for every class at every budget.
TARGET_LEAD = 0.05
# A run's cost beyond its budget: building the trainer, the final validation and scoring, and
# (counted for every run, as any may be the first of its tool and budget) converting, planning,
# preprocessing and measuring, about 3 minutes on two cores.
RUN_OVERHEAD_S = 300.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Run:
    budget_min: float
    seed: int
    fold: int
    tool: str

    @property
    def key(self) -> tuple[float, str, int, int]:
        return self.budget_min, self.tool, self.seed, self.fold


def requested_runs(budgets: Sequence[float], seeds: Sequence[int], folds: Sequence[int]) -> list[Run]:
    """Every (budget, seed, fold) for both tools, nnU-Net's run first: a burst of load hits
    the pair, not one budget of one tool."""
    return [Run(float(budget), seed, fold, tool) for budget in budgets for seed in seeds for fold in folds
            for tool in TOOLS]


def read_results(path: Path) -> dict[str, Any]:
    return common.read_results(path, EXPERIMENT, "runs")


def runs_to_do(runs: Iterable[Run], results: Mapping[str, Any], mirroring: bool) -> list[Run]:
    done = {(entry["budget_min"], entry["tool"], entry["seed"], entry["fold"]) for entry in results["runs"]
            if not entry.get("aggregated") and entry["mirroring"] == mirroring}
    return [run for run in runs if run.key not in done]


def estimated_seconds(run: Run) -> float:
    return 60 * run.budget_min + RUN_OVERHEAD_S


class Workbench:
    """The scratch folder's converted slices, nnU-Net's planned WORK folder with its epoch
    time, and covplan's WORK folder planned for each budget: each made when a run first
    needs it, so that a session resuming only covplan's runs measures no nnU-Net epoch."""

    def __init__(self, root: Path, slices_dir: Path, device, workers: int, mirroring: bool):
        self.root, self.slices_dir, self.device = root, slices_dir, device
        self.workers, self.mirroring = workers, mirroring

    @functools.cached_property
    def dataset(self) -> Path:
        from covplan.conversion.base import get_converter

        dataset = self.root / "dataset"
        get_converter("slices").convert(self.slices_dir, dataset)
        return dataset

    @functools.cached_property
    def nnunet(self) -> tuple[Path, float]:
        work = planned_work(self.dataset, self.root / "nnunet_work", ["plain_unet"], "2d", folds=NUM_SPLITS)
        return work, nnunet_epoch_seconds(work, self.device, self.workers)

    @functools.cache
    def covplan(self, budget_min: float) -> tuple[Path, dict[str, Any]]:
        """The WORK folder planned for ``budget_min`` and what the planner chose and why."""
        from covplan.workflows.fit_budget import plan_for_budget

        work = self.root / f"covplan_work_{budget_min:g}"
        started = time.monotonic()
        plan_for_budget(self.dataset, work, ["plain_unet"], 60 * budget_min, configurations=["2d"],
                        device=self.device.type, num_workers=self.workers, test_time_mirroring=self.mirroring,
                        num_folds=NUM_SPLITS)
        budget_record = json.loads((work / "budget_plain_unet.json").read_text())
        return work, {"chosen": budget_record["chosen"], "reason": budget_record["reason"],
                      "planning_min": round((time.monotonic() - started) / 60, 2)}

    def run(self, run: Run) -> dict[str, Any]:
        if run.tool == "nnunet":
            work, epoch_s = self.nnunet
            epochs = max(1, math.floor(60 * run.budget_min / epoch_s))
            outcome = {**nnunet_run(work, run.fold, run.seed, self.device, epochs, self.mirroring),
                       "epochs": epochs, "epoch_s": round(epoch_s, 1)}
        else:
            work, choice = self.covplan(run.budget_min)
            outcome = {**covplan_run(work, run.fold, run.seed, self.device, 60 * run.budget_min, self.workers,
                                     self.mirroring), **choice}
        entry = {"budget_min": run.budget_min, "tool": run.tool, "seed": run.seed, "fold": run.fold,
                 "mirroring": self.mirroring, **outcome, "minutes": round(outcome["minutes"], 2),
                 **common.provenance("benchmarks/bench_budget.py")}
        logger.info("%s: Dice %s, %.1f min, %d steps", run, {name: entry[name] for name in CLASSES},
                    entry["minutes"], entry["steps"])
        return entry


def groups_of(entries: Iterable[Mapping[str, Any]], mirroring: bool) -> dict[tuple[float, str], list[Mapping]]:
    """(budget, tool) -> its runs with ``mirroring``, by budget; an aggregated entry (a
    figure the docs give only as mean and spread) stands for its group only while the group
    has no single runs."""
    groups: dict[tuple[float, str], list[Mapping]] = {}
    for entry in entries:
        if entry["mirroring"] == mirroring:
            groups.setdefault((entry["budget_min"], entry["tool"]), []).append(entry)
    for key, group in groups.items():
        single = [entry for entry in group if not entry.get("aggregated")]
        groups[key] = single or group[:1]
    return dict(sorted(groups.items(), key=lambda item: (item[0][0], list(TOOLS).index(item[0][1]))))


def class_figures(group: Sequence[Mapping[str, Any]], name: str) -> tuple[float, float, int] | None:
    """Mean, standard deviation and number of runs of class ``name``'s Dice in ``group``."""
    if len(group) == 1 and group[0].get("aggregated"):
        aggregated = group[0]["aggregated"]
        return group[0][name], aggregated["spread"][name], aggregated["runs"]
    values = [entry[name] for entry in group if entry[name] is not None and not math.isnan(entry[name])]
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def runs_in(group: Sequence[Mapping[str, Any]]) -> int:
    return group[0]["aggregated"]["runs"] if group[0].get("aggregated") else len(group)


def summary_table(entries: Iterable[Mapping[str, Any]], mirroring: bool) -> str:
    rows = []
    for (budget, tool), group in groups_of(entries, mirroring).items():
        figures = [class_figures(group, name) for name in CLASSES]
        rows.append([f"{budget:g}", TOOLS[tool], runs_in(group),
                     *[f"{f[0]:.3f} +- {f[1]:.3f}" if f else "-" for f in figures],
                     f"{statistics.mean(entry['minutes'] for entry in group):.1f}",
                     f"{statistics.mean(entry['steps'] for entry in group):.0f}",
                     "; ".join(sorted({entry["plan"] for entry in group})),
                     ", ".join(sorted({entry["date"][:10] for entry in group}))])
    return markdown_table(["budget min", "model", "runs", *[f"Dice {name}" for name in CLASSES], "minutes used",
                           "steps", "plan", "dates"], rows)


def target_lines(entries: Iterable[Mapping[str, Any]], mirroring: bool) -> list[str]:
    """Issue 34's target, budget by budget: covplan's lead over nnU-Net per class (met at
    +0.05) and covplan against its own result at every smaller budget (met when not below)."""
    groups = groups_of(entries, mirroring)
    budgets = sorted({budget for budget, _ in groups})
    lines = []
    for budget in budgets:
        covplan, nnunet = groups.get((budget, "covplan")), groups.get((budget, "nnunet"))
        if covplan and nnunet:
            leads = {name: mean_of(covplan, name) - mean_of(nnunet, name) for name in CLASSES
                     if mean_of(covplan, name) is not None and mean_of(nnunet, name) is not None}
            misses = {name: TARGET_LEAD - lead for name, lead in leads.items() if lead < TARGET_LEAD}
            lines.append(f"{budget:g} min, covplan - nnU-Net: "
                         + ", ".join(f"{name} {lead:+.3f}" for name, lead in leads.items())
                         + (": meets +{:.2f} for every class".format(TARGET_LEAD) if not misses else
                            ": misses +{:.2f} for ".format(TARGET_LEAD)
                            + ", ".join(f"{name} by {gap:.3f}" for name, gap in misses.items())))
        for smaller in (b for b in budgets if b < budget):
            before = groups.get((smaller, "covplan"))
            if covplan and before:
                drops = {name: mean_of(before, name) - mean_of(covplan, name) for name in CLASSES
                         if mean_of(covplan, name) is not None and mean_of(before, name) is not None
                         and mean_of(covplan, name) < mean_of(before, name)}
                lines.append(f"covplan {budget:g} min against {smaller:g} min: "
                             + ("not below in any class" if not drops else
                                "below in " + ", ".join(f"{name} by {drop:.3f}" for name, drop in drops.items())))
    return lines


def mean_of(group: Sequence[Mapping[str, Any]], name: str) -> float | None:
    figures = class_figures(group, name)
    return None if figures is None else figures[0]


def common_notes(mirroring: bool) -> list[str]:
    return [f"data: the 50 COVID-SemiSeg slices, slices converter, {NUM_SPLITS}-fold split; validation "
            f"{'with' if mirroring else 'without'} mirroring",
            f"nnU-Net: {NNUNET_ITERATIONS_PER_EPOCH} steps and {NNUNET_VALIDATION_ITERATIONS} validation batches per "
            f"epoch, epochs = budget / the epoch time measured before its runs",
            "Dice: mean +- standard deviation over the runs (seeds and folds) of the fold's mean over slices (a slice "
            "without the class in both counts no Dice); minutes: training and validation"]


def report(entries: Sequence[Mapping[str, Any]], mirroring: bool) -> str:
    """The table, what covplan chose at each budget, and the target, as markdown."""
    choices = sorted({(entry["budget_min"], entry["chosen"], entry["reason"]) for entry in entries
                      if entry["tool"] == "covplan" and entry["mirroring"] == mirroring and "chosen" in entry})
    return "\n".join([summary_table(entries, mirroring), "", *(f"- {line}" for line in common_notes(mirroring)),
                      *(f"- {budget:g} min: covplan chose {chosen} ({reason})" for budget, chosen, reason in choices),
                      *(f"- {line}" for line in target_lines(entries, mirroring))])


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="COVID-SemiSeg training slices (Imgs/, GT/).")
    parser.add_argument("--results", type=Path, default=RESULTS, help="The results file, read and extended.")
    parser.add_argument("--budgets", type=float, nargs="+", default=[10.0, 25.0, 60.0], help="Minutes per fold.")
    parser.add_argument("--folds", type=int, nargs="+", default=[0], help=f"Folds of the {NUM_SPLITS}-fold split.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="Training seeds.")
    parser.add_argument("--max-minutes", type=float, help="Start no run that would end after this many minutes.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--workers", type=int, default=1, help="Augmentation workers of both trainers.")
    parser.add_argument("--mirroring", action="store_true", help="Validate with test-time mirroring.")
    parser.add_argument("--report", action="store_true", help="Train nothing: the table and target of the file.")
    parser.add_argument("--quick", action="store_true",
                        help="One 1-minute budget, fold 0, seed 1, into a temporary results file: proves the "
                             "harness.")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.budgets, arguments.folds, arguments.seeds = [1.0], [0], [1]
        arguments.results = Path(tempfile.mkdtemp(prefix="bench_budget_quick_")) / "budget.json"
    if arguments.report:
        print(report(read_results(arguments.results)["runs"], arguments.mirroring))
        return
    runs = runs_to_do(requested_runs(arguments.budgets, arguments.seeds, arguments.folds),
                      read_results(arguments.results), arguments.mirroring)
    logger.info("%d runs to do, about %.0f min: %s", len(runs), sum(map(estimated_seconds, runs)) / 60,
                [run.key for run in runs])
    if not runs:
        return
    if not (arguments.slices_dir / "Imgs").is_dir():
        print(f"bench_budget skipped: no COVID-SemiSeg slices in {arguments.slices_dir} (Imgs/ and GT/); "
              f"pass --slices-dir")
        return
    started = time.monotonic()

    def run_all(root: Path) -> None:
        bench = Workbench(root, arguments.slices_dir, resolve_device(arguments.device), arguments.workers,
                          arguments.mirroring)
        done = common.run_and_record(runs, arguments.results, EXPERIMENT, "runs", bench.run, estimated_seconds,
                                     arguments.max_minutes, started)
        if done:
            entries = read_results(arguments.results)["runs"]
            record(f"Quality at equal minutes: covplan --time-budget vs nnU-Net with shortened epochs, device "
                   f"{bench.device.type}", summary_table(entries, arguments.mirroring),
                   notes=[f"this command's runs: {[run.key for run in done]}; the table holds every run of "
                          f"{arguments.results.name} (`bench_budget.py --report`)",
                          *common_notes(arguments.mirroring), *target_lines(entries, arguments.mirroring)],
                   # --quick proves the harness: its table goes beside its temporary results, not into the docs
                   output_file=arguments.results.parent / "benchmarks.md" if arguments.quick else BENCHMARKS_MD)

    run_in_scratch_folder("bench_budget_", run_all, arguments.workers)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
