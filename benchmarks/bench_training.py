"""Training throughput: covplan's trainer against nnU-Net's nnUNetTrainer on identical plans.

Both trainers train plain_unet from the same WORK folder (covplan's plans_plain_unet.json is
nnU-Net's plans; nnUNetTrainer reads the WORK folder through a link under a temporary
nnUNet_preprocessed), with the same batch, patch, augmentation workers and device. Reported:
median seconds per training step after warm-up (loading the batch included), peak memory
(CUDA max allocated on a GPU, resident high-water mark of the training process on CPU), the
data loader alone in batches per second, then every plugin architecture with covplan's
trainer, absolute and relative to plain_unet. Not a test: figures depend on the machine.

    python benchmarks/bench_training.py --kind ct3d --iterations 50 --device cuda
    python benchmarks/bench_training.py --kind ct3d --iterations 50 --device cuda --compile default

``--compile`` sets torch.compile for both trainers: ``off`` (the default here: equal
settings, nnUNet_compile=false), ``default`` (each trainer's own default: both compile on
CUDA, neither on CPU) or ``on`` (covplan compiled everywhere; nnU-Net compiles on CUDA
only, its ``_do_i_compile`` refuses the CPU). The first step, where compiling happens, is
reported apart from the median step.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (demo_dataset, finish_loaders, markdown_table, median_seconds, nnunet_trainer, peak_memory_mib,
                    planned_work, record, reset_peak_memory, resolve_device, run_in_scratch_folder)

ARCHITECTURES = ("plain_unet", "resenc_unet", "qchc_unet", "coarse_refine")
LOADER_BATCHES_PER_STEP = 5
logger = logging.getLogger(__name__)


# --compile: covplan's TrainingSettings.compile and nnU-Net's nnUNet_compile (None: unset, its default).
COVPLAN_COMPILE = {"off": False, "default": None, "on": True}
NNUNET_COMPILE = {"off": "false", "default": None, "on": "true"}


@dataclass(frozen=True)
class Throughput:
    seconds_per_step: float
    peak_mib: float
    loader_batches_per_second: float
    first_step_s: float  # with torch.compile, the compile is in it
    losses: tuple[float, ...] = ()  # of every step, warm-up included, in order


def best_of(runs: list[Throughput]) -> Throughput:
    """The fastest step and loader of the runs (the least disturbed by other load), the largest peak;
    the losses of the first run."""
    return Throughput(min(run.seconds_per_step for run in runs), max(run.peak_mib for run in runs),
                      max(run.loader_batches_per_second for run in runs), max(run.first_step_s for run in runs),
                      runs[0].losses)


def loss_value(step_output: object) -> float:
    """The loss a trainer's train_step returned: covplan's a float, nnU-Net's ``{"loss": array}``."""
    return float(step_output["loss"] if isinstance(step_output, dict) else step_output)


def loss_summary(losses: Sequence[float], window: int = 10) -> str:
    """Mean +- standard deviation of the first and the last ``window`` losses."""
    def summary(values: Sequence[float]) -> str:
        return f"{statistics.mean(values):.3f} +- {statistics.pstdev(values):.3f}"
    return f"{summary(losses[:window])} -> {summary(losses[-window:])}" if len(losses) >= window else ""


def measure(train_step, next_batch, finish, iterations: int, warmup: int, device) -> Throughput:
    """First step, median step time and peak memory of ``train_step(next_batch())``, then the loader alone."""
    try:
        reset_peak_memory(device)
        losses = []

        def step() -> None:
            losses.append(loss_value(train_step(next_batch())))

        first_step_s = median_seconds(step, 1, 0, device)
        seconds = median_seconds(step, iterations, warmup, device)
        peak = peak_memory_mib(device)
        # Enough batches that the ones the workers prefetched during the steps weigh little.
        loader_batches = LOADER_BATCHES_PER_STEP * iterations
        start = time.perf_counter()
        for _ in range(loader_batches):
            next_batch()
        return Throughput(seconds, peak, loader_batches / (time.perf_counter() - start), first_step_s, tuple(losses))
    finally:
        finish()


def covplan_throughput(work: Path, architecture: str, configuration: str, workers: int, device,
                       iterations: int, warmup: int, compile_mode: str = "off") -> Throughput:
    from covplan.training import Trainer, TrainingSettings
    from covplan.training.inputs import load_training_inputs

    inputs = load_training_inputs(work, architecture, configuration)
    settings = TrainingSettings(num_workers=workers, device=device.type, evaluate=False,
                                compile=COVPLAN_COMPILE[compile_mode])
    trainer = Trainer(inputs, 0, settings)
    trainer.model.train()

    return measure(trainer.train_step, lambda: next(trainer.train_batches),
                   lambda: finish_loaders(trainer.train_batches, trainer.val_batches), iterations, warmup, device)


def nnunet_throughput(work: Path, configuration: str, device, iterations: int, warmup: int,
                      compile_mode: str = "off") -> Throughput:
    """nnUNetTrainer, used as its run_training does (on_train_start, then train_step on the
    next batch), on the plain_unet plans of ``work``."""
    from covplan.nnunet_paths import nnunet_prints_to_log

    if NNUNET_COMPILE[compile_mode] is None:
        os.environ.pop("nnUNet_compile", None)
    else:
        os.environ["nnUNet_compile"] = NNUNET_COMPILE[compile_mode]

    trainer = nnunet_trainer(work, configuration, 0, device)
    with nnunet_prints_to_log(logger, "nnUNetTrainer"):
        trainer.on_train_start()
        trainer.network.train()

    return measure(trainer.train_step, lambda: next(trainer.dataloader_train),
                   lambda: finish_loaders(trainer.dataloader_train, trainer.dataloader_val), iterations, warmup, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--iterations", type=int, default=50, help="Timed steps (median); the loader alone is timed on 5 times as many batches.")
    parser.add_argument("--rounds", type=int, default=2,
                        help="Alternating runs of the two trainers on plain_unet, and runs of each other "
                             "architecture; the best of each counts.")
    parser.add_argument("--warmup", type=int, default=5, help="Untimed steps first.")
    parser.add_argument("--kind", choices=("semiseg", "ct3d"), default="ct3d",
                        help="Demo data: 2D slices (configuration 2d) or 3D volumes (3d_fullres).")
    parser.add_argument("--cases", type=int, default=8, help="Demo cases.")
    parser.add_argument("--size", type=int, default=96, help="Demo image edge in pixels.")
    parser.add_argument("--dataset", type=Path, help="A converted dataset to use instead of demo data.")
    parser.add_argument("--configuration", help="Configuration to train (default: 3d_fullres, else 2d).")
    parser.add_argument("--workers", type=int, help="Augmentation workers of both trainers "
                        "(default: nnU-Net's nnUNet_n_proc_DA, capped by the cores).")
    parser.add_argument("--compile", choices=tuple(COVPLAN_COMPILE), default="off",
                        help="torch.compile for both trainers: off (equal settings), default (each trainer's own: "
                             "compiled on CUDA), on (covplan compiled on every device; nnU-Net never on CPU).")
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES),
                        help="Architectures of the per-architecture table (plain_unet alone skips it).")
    parser.add_argument("--quick", action="store_true",
                        help="6 tiny 2D demo slices, 10 steps: proves the harness in a few minutes on CPU.")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.kind, arguments.cases, arguments.size, arguments.iterations, arguments.warmup = \
            "semiseg", 6, 64, 10, 2
    from covplan.training.data import default_num_workers

    workers = default_num_workers() if arguments.workers is None else arguments.workers
    run_in_scratch_folder("bench_training_", lambda root: run(arguments, root, workers), workers)


def run(arguments: argparse.Namespace, root: Path, workers: int) -> None:
    from covplan.architectures.base import get_architecture
    from covplan.training.inputs import load_training_inputs

    device = resolve_device(arguments.device)
    dataset = arguments.dataset or demo_dataset(root, arguments.kind, arguments.cases, arguments.size)
    architectures = ["plain_unet", *[name for name in arguments.architectures if name != "plain_unet"]]
    work = planned_work(dataset, root / "work", architectures, arguments.configuration)
    configuration = load_training_inputs(work, "plain_unet", arguments.configuration).configuration
    plan = load_training_inputs(work, "plain_unet", configuration).plan
    timing = dict(iterations=arguments.iterations, warmup=arguments.warmup, compile_mode=arguments.compile)

    our_runs, their_runs = [], []
    for _ in range(arguments.rounds):  # alternating, so that a burst of other load hits both
        their_runs.append(nnunet_throughput(work, configuration, device, **timing))
        our_runs.append(covplan_throughput(work, "plain_unet", configuration, workers, device, **timing))
    ours, theirs = best_of(our_runs), best_of(their_runs)
    rows = [["covplan Trainer", ours.seconds_per_step, ours.peak_mib, ours.loader_batches_per_second,
             ours.loader_batches_per_second * ours.seconds_per_step, ours.first_step_s, loss_summary(ours.losses)],
            ["nnunetv2 nnUNetTrainer", theirs.seconds_per_step, theirs.peak_mib, theirs.loader_batches_per_second,
             theirs.loader_batches_per_second * theirs.seconds_per_step, theirs.first_step_s,
             loss_summary(theirs.losses)],
            ["ratio covplan / nnU-Net", ours.seconds_per_step / theirs.seconds_per_step, ours.peak_mib / theirs.peak_mib,
             "", "", "", ""]]
    setting = (f"{configuration}, patch {plan['patch_size']}, batch {plan['batch_size']}, device {device.type}, "
               f"compile {arguments.compile}, "
               f"{workers} augmentation workers, median of {arguments.iterations} steps after {arguments.warmup}, "
               f"best of {arguments.rounds} rounds, alternating for plain_unet")
    record(f"Training throughput, plain_unet: covplan vs nnU-Net ({setting})", markdown_table(
        ["trainer", "s / step", "peak MiB", "loader batches / s", "loader batches per step (> 1: never starves)",
         "first step s (compile)", "loss, first 10 steps -> last 10 (first round)"],
        rows), notes=[f"dataset: {dataset.name if arguments.dataset else f'demo {arguments.kind}'}"])

    dims = len(plan["patch_size"])
    plugin_rows = []
    for architecture in architectures if len(architectures) > 1 else []:  # plain_unet alone: its table is above
        if dims not in get_architecture(architecture).dims:
            plugin_rows.append([architecture, f"not built for {dims}D", "", "", "", "", ""])
            continue
        inputs = load_training_inputs(work, architecture, configuration)
        result = ours if architecture == "plain_unet" else best_of(
            [covplan_throughput(work, architecture, configuration, workers, device, **timing)
             for _ in range(arguments.rounds)])
        plugin_rows.append([architecture, str(inputs.plan["patch_size"]), inputs.plan["batch_size"],
                            result.seconds_per_step, result.peak_mib,
                            result.seconds_per_step / ours.seconds_per_step, result.peak_mib / ours.peak_mib])
    if not plugin_rows:
        return
    record(f"Training throughput per architecture, covplan's trainer ({setting})", markdown_table(
        ["architecture", "patch", "batch", "s / step", "peak MiB", "s / step vs plain_unet", "peak vs plain_unet"],
        plugin_rows), notes=["each architecture with its own planned patch and batch"])


if __name__ == "__main__":
    main()
