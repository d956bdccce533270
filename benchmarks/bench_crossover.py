"""Where the time-budget candidates cross (issue 34): Dice against training steps per plan.

nnU-Net's ``2d`` plan and its coarser budget candidate ``2d_x2``, on the 50 real
COVID-SemiSeg slices. The candidates are planned as ``covplan plan --time-budget`` plans them (nnU-Net's planner run
again at the coarser spacing, ``covplan.planning.budget_candidates``); ``--intermediate`` adds
``2d`` at 1.5 times its spacing. A cell is one (candidate, steps, seed, fold): a fresh model
trained to exactly that many steps, as ``covplan train --epochs E --iters-per-epoch I
--val-iters 1 --no-tta --seed S --num-workers 1`` trains it (about 20 epochs of at least 5
steps, nnU-Net's polynomial rate over the whole run, as ``fit_schedule`` sets it), validated on
its fold without mirroring. Each cell's Dice per class, wall seconds and seconds per step go to
a results file in the repository (default ``benchmarks/results/crossover.json``), written
after each cell; a cell already there is skipped, so the experiment accumulates across
sessions and survives a kill (the cell then running is lost, no other).

    python benchmarks/bench_crossover.py --steps 2d=80,160,380,900 2d_x2=380,760,1880,4500 \\
        --cheapest-first --max-minutes 150
    python benchmarks/bench_crossover.py --report

``--report`` trains nothing: it reads the results file, fits a learning curve per candidate
and class (``crossover_report``), locates the crossover in minutes, writes the plot to
``docs/images/crossover.png`` and prints a markdown block for docs/planning.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from bench_budget import fold_class_dice, plan_text
import common
from common import REPO_ROOT, SHARED_DATA, resolve_device, run_in_scratch_folder
from crossover_report import report, write_curves

from covplan.json_files import read_json
from covplan.planning import budget_candidates
from covplan.planning.learning_curves import CURVES_FILE
from covplan.planning.schedule import MIN_SCHEDULE_EPOCHS
from covplan.work_folder import plans_path

ARCHITECTURE = "plain_unet"
MAIN = "2d"
NUM_SPLITS = 5
RESULTS = REPO_ROOT / "benchmarks" / "results" / "crossover.json"
EXPERIMENT = __doc__.splitlines()[0]
REPORT_MD = REPO_ROOT / "benchmarks" / "results" / "crossover.md"
IMAGE = REPO_ROOT / "docs" / "images" / "crossover.png"
INTERMEDIATE_FACTOR = 1.5
# "About 20 epochs of at least 5 steps" (docs/planning.md, "The experiments behind the rule").
MIN_ITERATIONS_PER_EPOCH = 5
# An exact divisor of the steps is taken as the epoch count down to this share of the target
# epochs (285 steps: 19 x 15); below it the steps are rounded to target x iterations.
LEAST_EPOCH_SHARE = 0.75
# Seconds a step where neither --seconds-per-step nor the results file says: the docs'
# figures measured alone on two CPU cores (2d_x1.5 scaled from 2d by its pixels, a guess).
DEFAULT_SECONDS_PER_STEP = {"2d": 5.02, "2d_x2": 0.82, "2d_x1.5": 5.02 / INTERMEDIATE_FACTOR**2}
# A cell's cost beyond its steps: building the trainer, the final validation, scoring.
CELL_OVERHEAD_S = 60.0
# Converting, planning and preprocessing the slices, once per run (about 2 min under load).
PLANNING_S = 150.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Cell:
    candidate: str
    steps: int
    seed: int
    fold: int

    @property
    def key(self) -> tuple[str, int, int, int]:
        return self.candidate, self.steps, self.seed, self.fold


def schedule_for_steps(steps: int) -> tuple[int, int]:
    """Epochs and steps per epoch for ``steps``: :data:`MIN_SCHEDULE_EPOCHS` epochs (fewer
    when an epoch would get under :data:`MIN_ITERATIONS_PER_EPOCH` steps), or the nearest
    smaller epoch count that divides ``steps`` exactly; else the steps per epoch rounded."""
    target = max(1, min(MIN_SCHEDULE_EPOCHS, steps // MIN_ITERATIONS_PER_EPOCH))
    for epochs in range(target, max(1, int(LEAST_EPOCH_SHARE * target)) - 1, -1):
        if steps % epochs == 0:
            return epochs, steps // epochs
    return target, max(1, round(steps / target))


def requested_cells(steps: Mapping[str, Sequence[int]], seeds: Sequence[int], folds: Sequence[int]) -> list[Cell]:
    """Every (candidate, steps, seed, fold), the steps made exact for their schedule."""
    cells = []
    for candidate, counts in steps.items():
        for count in counts:
            epochs, iterations = schedule_for_steps(count)
            if epochs * iterations != count:
                logger.warning("%s: %d steps do not split into about %d epochs; training %d x %d = %d", candidate,
                               count, MIN_SCHEDULE_EPOCHS, epochs, iterations, epochs * iterations)
            cells += [Cell(candidate, epochs * iterations, seed, fold) for seed in seeds for fold in folds]
    return list(dict.fromkeys(cells))


def read_results(path: Path) -> dict[str, Any]:
    return common.read_results(path, EXPERIMENT, "cells")


def done_keys(results: Mapping[str, Any]) -> set[tuple[str, int, int, int]]:
    return {(cell["candidate"], cell["steps"], cell["seed"], cell["fold"]) for cell in results["cells"]
            if not cell.get("aggregated")}


def step_seconds(results: Mapping[str, Any], given: Mapping[str, float]) -> dict[str, float]:
    """What a step of each candidate costs, for ordering cells and fitting them into
    ``--max-minutes``: ``given``, else the last cell recorded, else the docs' figure."""
    recorded = {cell["candidate"]: cell["seconds_per_step"] for cell in results["cells"] if not cell.get("aggregated")}
    return {**DEFAULT_SECONDS_PER_STEP, **recorded, **given}


def estimated_seconds(cell: Cell, step_s: Mapping[str, float]) -> float:
    return cell.steps * step_s.get(cell.candidate, max(step_s.values())) + CELL_OVERHEAD_S


def cells_to_run(cells: Iterable[Cell], results: Mapping[str, Any], step_s: Mapping[str, float],
                 cheapest_first: bool) -> list[Cell]:
    """``cells`` not in ``results``, cheapest first when asked (then by seed and fold,
    so that each step count gets its second run before the next count starts)."""
    done = done_keys(results)
    left = [cell for cell in cells if cell.key not in done]
    if cheapest_first:
        left.sort(key=lambda cell: (estimated_seconds(cell, step_s), cell.seed, cell.fold, cell.candidate))
    return left


def run_cells(cells: Sequence[Cell], results_path: Path, train: Callable[[Cell], dict[str, Any]],
              step_s: Mapping[str, float], max_minutes: float | None, started: float,
              clock: Callable[[], float] = time.monotonic) -> list[Cell]:
    """Train each cell whose estimated cost still fits ``max_minutes`` since ``started``,
    recording each as soon as it ends (``common.run_and_record``). Returns the cells trained."""
    def train_and_log(cell: Cell) -> dict[str, Any]:
        entry = train(cell)
        logger.info("%s: Dice %s, %.0f s (%.3g s a step)", cell, entry["dice"], entry["wall_s"],
                    entry["seconds_per_step"])
        return entry

    return common.run_and_record(cells, results_path, EXPERIMENT, "cells", train_and_log,
                                 lambda cell: estimated_seconds(cell, step_s), max_minutes, started, clock)


def train_cell(work: Path, cell: Cell, device, workers: int) -> dict[str, Any]:
    """Train one cell from scratch in ``work`` and score its fold; the fold folder is
    removed afterwards (a 2d checkpoint is large and is not needed again)."""
    from covplan.training import TrainingSettings, load_training_inputs, train_fold
    from covplan.work_folder import FOLD_TIME_JSON, VALIDATION_FOLDER

    epochs, iterations = schedule_for_steps(cell.steps)
    inputs = load_training_inputs(work, ARCHITECTURE, cell.candidate)
    fold_folder = inputs.fold_folder(cell.fold)
    shutil.rmtree(fold_folder, ignore_errors=True)
    settings = TrainingSettings(num_epochs=epochs, iterations_per_epoch=iterations, validation_iterations=1,
                                test_time_mirroring=False, seed=cell.seed, num_workers=workers, device=device.type)
    started = time.monotonic()
    train_fold(work, ARCHITECTURE, cell.fold, cell.candidate, settings)
    wall_s = time.monotonic() - started
    fold_time = read_json(fold_folder / FOLD_TIME_JSON, "train the cell again")
    dice = fold_class_dice(work, fold_folder / VALIDATION_FOLDER)
    shutil.rmtree(fold_folder, ignore_errors=True)
    return {"candidate": cell.candidate, "steps": cell.steps, "seed": cell.seed, "fold": cell.fold,
            "steps_trained": fold_time["steps"], "epochs": epochs, "iterations_per_epoch": iterations,
            "validation_iterations": 1, "mirroring": False, "dice": dice, "wall_s": round(wall_s, 1),
            "training_s": fold_time["training_s"],
            "seconds_per_step": round(fold_time["training_s"] / fold_time["steps"], 4), "plan": plan_text(inputs.plan),
            **common.provenance("benchmarks/bench_crossover.py")}


def plan_candidates_work(slices_dir: Path, root: Path, intermediate: bool) -> Path:
    """The slices converted and planned as ``covplan plan --time-budget`` plans them (the
    main configuration and its coarser candidates, all preprocessed), without the
    measuring and choosing. ``intermediate`` plans the 1.5 x candidate too."""
    from covplan.conversion.base import get_converter
    from covplan.planning import plan_dataset
    from covplan.preprocessing import preprocess

    dataset, work = root / "dataset", root / "work"
    get_converter("slices").convert(slices_dir, dataset)
    factors = (*budget_candidates.SPACING_FACTORS, INTERMEDIATE_FACTOR)
    # The planner's candidates are its module's constant; the experiment adds one for this run only.
    with (mock.patch.object(budget_candidates, "SPACING_FACTORS", factors) if intermediate
          else contextlib.nullcontext()):
        plan_dataset(dataset, work, [ARCHITECTURE], configurations=[MAIN], budget_candidates=True,
                     num_folds=NUM_SPLITS)
    preprocess(work, [ARCHITECTURE], None, 2)
    return work


def parse_per_candidate(values: Sequence[str], convert: Callable[[str], Any], option: str) -> dict[str, Any]:
    """``["2d=100,200", "2d_x2=300"]`` -> ``{"2d": [100, 200], "2d_x2": [300]}`` (one value
    each with ``convert`` of a single number)."""
    parsed = {}
    for value in values:
        name, _, numbers = value.partition("=")
        if not name or not numbers:
            raise SystemExit(f"{option} {value}: write CANDIDATE=N[,N...], e.g. {option} 2d=100,200")
        parsed[name] = convert(numbers)
    return parsed


def steps_from_minutes(minutes: Sequence[float], step_s: Mapping[str, float]) -> dict[str, list[int]]:
    return {candidate: [max(1, round(60 * m / seconds)) for m in minutes] for candidate, seconds in step_s.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="COVID-SemiSeg training slices (Imgs/, GT/).")
    parser.add_argument("--results", type=Path, default=RESULTS, help="The results file, read and extended.")
    parser.add_argument("--steps", nargs="+", default=[], metavar="CANDIDATE=N,N",
                        help="Step counts per candidate, e.g. 2d=80,160 2d_x2=380,760.")
    parser.add_argument("--minutes", type=float, nargs="+", default=[],
                        help="Instead of --steps: minutes of steps, converted with --seconds-per-step.")
    parser.add_argument("--seconds-per-step", nargs="+", default=[], metavar="CANDIDATE=S",
                        help="Step time per candidate, for --minutes, for ordering and --max-minutes, and in "
                             "the report's minutes (default: the results file's, else the docs').")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="Training seeds.")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1], help=f"Folds of the {NUM_SPLITS}-fold split.")
    parser.add_argument("--intermediate", action="store_true",
                        help=f"Also plan {MAIN} at {INTERMEDIATE_FACTOR:g} x its spacing (2d_x1.5).")
    parser.add_argument("--cheapest-first", action="store_true", help="Run the cheapest cells first.")
    parser.add_argument("--max-minutes", type=float, help="Start no cell that would end after this many minutes.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--workers", type=int, default=1, help="Augmentation workers.")
    parser.add_argument("--report", action="store_true", help="Train nothing: report the results file.")
    parser.add_argument("--image", type=Path, default=IMAGE, help="Where --report writes its plot.")
    parser.add_argument("--report-md", type=Path, default=REPORT_MD, help="Where --report writes its markdown block.")
    parser.add_argument("--write-curves", type=Path, nargs="?", const=CURVES_FILE,
                        help=f"With --report: fit the budget rule's learning curves and write them (default "
                             f"{CURVES_FILE.relative_to(REPO_ROOT)}).")
    arguments = parser.parse_args()
    given_s = parse_per_candidate(arguments.seconds_per_step, float, "--seconds-per-step")
    results = read_results(arguments.results)
    if arguments.report:
        link = Path("images") / arguments.image.name if arguments.image == IMAGE else arguments.image
        block = report(results["cells"], arguments.image, str(link), given_s)
        arguments.report_md.write_text(block)
        print(block)
        if arguments.write_curves:
            source = (f"benchmarks/bench_crossover.py --report --write-curves, {len(results['cells'])} entries of "
                      f"{arguments.results.name}, {datetime.date.today().isoformat()}")
            curves = write_curves(results["cells"], arguments.write_curves, source)
            print(f"learning curves written to {arguments.write_curves}: {curves.as_dict()}")
        return
    if arguments.minutes:
        if not given_s:
            raise SystemExit("--minutes needs --seconds-per-step CANDIDATE=S for each candidate (steps must stay "
                             "the same across sessions for cells to resume)")
        steps = steps_from_minutes(arguments.minutes, given_s)
    else:
        steps = parse_per_candidate(arguments.steps, lambda text: [int(n) for n in text.split(",")], "--steps")
    if not steps:
        raise SystemExit("give --steps CANDIDATE=N,N ... (or --minutes with --seconds-per-step), or --report")
    step_s = step_seconds(results, given_s)
    cells = cells_to_run(requested_cells(steps, arguments.seeds, arguments.folds), results, step_s,
                         arguments.cheapest_first)
    logger.info("%d cells to run, about %.0f min: %s", len(cells),
                sum(estimated_seconds(cell, step_s) for cell in cells) / 60, [cell.key for cell in cells])
    if not cells:
        return
    if arguments.max_minutes is not None and (
            min(estimated_seconds(cell, step_s) for cell in cells) + PLANNING_S > 60 * arguments.max_minutes):
        logger.info("no cell fits %g minutes with the planning: nothing to do", arguments.max_minutes)
        return
    if not (arguments.slices_dir / "Imgs").is_dir():
        raise SystemExit(f"no COVID-SemiSeg slices in {arguments.slices_dir} (Imgs/ and GT/); pass --slices-dir")
    started = time.monotonic()

    def run(root: Path) -> None:
        work = plan_candidates_work(arguments.slices_dir, root, arguments.intermediate)
        planned = read_json(plans_path(work, ARCHITECTURE), "plan again")["configurations"]
        unknown = sorted({cell.candidate for cell in cells} - set(planned))
        if unknown:
            raise SystemExit(f"no candidate {unknown} planned; planned: {sorted(planned)} "
                             f"(2d_x1.5 needs --intermediate)")
        device = resolve_device(arguments.device)
        run_cells(cells, arguments.results, lambda cell: train_cell(work, cell, device, arguments.workers), step_s,
                  arguments.max_minutes, started)

    run_in_scratch_folder("bench_crossover_", run, arguments.workers)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
