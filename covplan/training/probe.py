"""The throughput probe: a few real training steps of a :class:`~covplan.training.Trainer`
on the device and data it will train with, timed, and everything they changed put back."""

from __future__ import annotations

import copy
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from covplan.planning.schedule import Throughput
from covplan.training.checkpoints import capture_rng_state, restore_rng_state, save_checkpoint_atomically
from covplan.training.compiled_network import CompiledNetwork
from covplan.training.progress import plot_progress
from covplan.work_folder import PROGRESS_PNG

WARMUP_STEPS = 2  # the first steps start workers, allocate and compile; they are not timed as steps
MEASURED_STEPS = 4
VALIDATION_BATCHES = 2
SLIDING_WINDOW_STEP = 0.5  # nnU-Net's tile step in validation
# What a validation case costs beside its forward passes (loading, resampling back,
# writing, scoring): about a second a case on two CPU cores for small images.
VALIDATION_CASE_OVERHEAD_S = 1.0


def measure_throughput(trainer, steps: int = MEASURED_STEPS) -> Throughput:
    """Time ``steps`` training steps (after :data:`WARMUP_STEPS`), validation batches and
    the writing of a checkpoint on ``trainer``'s network, data and device, then restore its
    weights, optimiser and random state: the measurement leaves no trace on the run."""
    started = time.monotonic()
    weights = copy.deepcopy(trainer.network.state_dict())
    optimizer_state = copy.deepcopy(trainer.optimizer.state_dict())
    rng_state = capture_rng_state()
    try:
        trainer.model.train()
        eager_seconds_per_step = None
        if _compares_compile(trainer):
            compiled_model, trainer.model = trainer.model, trainer.network
            eager_seconds_per_step = _seconds_per_step(trainer, steps)[1]
            trainer.model = compiled_model
        first_step_s, seconds_per_step = _seconds_per_step(trainer, steps)
        compiled = isinstance(trainer.model, CompiledNetwork) and trainer.model.is_compiled
        trainer.model.eval()
        with torch.no_grad():
            trainer.validation_step(next(trainer.val_batches))  # the validation workers' first batch
            seconds_per_batch = _timed(lambda: [trainer.validation_step(next(trainer.val_batches))
                                                for _ in range(VALIDATION_BATCHES)], trainer.device) / VALIDATION_BATCHES
            seconds_per_tile = _seconds_per_tile(trainer)
        checkpoint_s = _checkpoint_seconds(trainer)
    finally:
        trainer.network.load_state_dict(weights)
        trainer.optimizer.load_state_dict(optimizer_state)
        restore_rng_state(rng_state)
        trainer.model.train()
    final_validation_s = (sliding_window_tiles(trainer.inputs, trainer.val_ids) * seconds_per_tile
                          * mirrored_passes(trainer) + VALIDATION_CASE_OVERHEAD_S * len(trainer.val_ids))
    return Throughput(device=trainer.device.type, seconds_per_step=seconds_per_step,
                      seconds_per_validation_batch=seconds_per_batch, seconds_per_checkpoint=checkpoint_s,
                      final_validation_s=final_validation_s if trainer.settings.evaluate else 0.0,
                      measured_steps=steps, measurement_s=time.monotonic() - started, compiled=compiled,
                      compile_s=max(0.0, first_step_s - seconds_per_step) if compiled else 0.0,
                      eager_seconds_per_step=eager_seconds_per_step if compiled else None)


def _compares_compile(trainer) -> bool:
    """Whether the probe times the network both ways: where covplan compiles by default
    (``compile=None`` on CUDA), so that a budget can drop compiling when it does not pay."""
    return trainer.settings.compile is None and isinstance(trainer.model, CompiledNetwork)


def _seconds_per_step(trainer, steps: int) -> tuple[float, float]:
    """The first of :data:`WARMUP_STEPS` untimed steps (a compiled network compiles in it),
    and the mean of ``steps`` steps after them."""
    first_step_s = _timed(lambda: trainer.train_step(next(trainer.train_batches)), trainer.device)
    for _ in range(WARMUP_STEPS - 1):
        trainer.train_step(next(trainer.train_batches))
    return first_step_s, _timed(lambda: [trainer.train_step(next(trainer.train_batches)) for _ in range(steps)],
                                trainer.device) / steps


def _timed(work, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def _seconds_per_tile(trainer) -> float:
    """One forward pass of one patch, as the sliding window runs it (after a warm-up pass)."""
    patch = torch.zeros(1, trainer.inputs.num_input_channels, *trainer.inputs.configuration_manager.patch_size,
                        device=trainer.device)
    with torch.autocast(trainer.device.type, enabled=trainer.device.type == "cuda"):
        trainer.network(patch)
        return _timed(lambda: trainer.network(patch), trainer.device)


def _checkpoint_seconds(trainer) -> float:
    """Writing the latest and (often, early on) the best checkpoint and the plot, into a
    scratch folder in WORK (the disk the fold's are written to)."""
    if not trainer.group.is_main:
        return 0.0
    with tempfile.TemporaryDirectory(dir=trainer.inputs.work, prefix=".probe_") as scratch:
        started = time.perf_counter()
        checkpoint = trainer.checkpoint()
        for name in ("latest", "best"):
            save_checkpoint_atomically(checkpoint, Path(scratch) / f"checkpoint_{name}.pth")
        row = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "ema_dice": 0.0, "lr": 0.01, "epoch_time_s": 1.0,
               **{f"dice_{name}": 0.0 for name in trainer.class_names}}
        plot_progress([row], trainer.class_names, Path(scratch) / PROGRESS_PNG)
        return time.perf_counter() - started


def sliding_window_tiles(inputs, case_identifiers: list[str]) -> int:
    """How many patches nnU-Net's sliding window predicts for these preprocessed cases
    (half-patch overlap; a 2D configuration slides over every slice)."""
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    patch = [int(p) for p in inputs.configuration_manager.patch_size]
    dataset = infer_dataset_class(str(inputs.preprocessed_folder))(str(inputs.preprocessed_folder), case_identifiers)
    tiles = 0
    for identifier in case_identifiers:
        shape = dataset.load_case(identifier)[0].shape[1:]
        slices = math.prod(shape[:len(shape) - len(patch)])
        padded = [max(size, edge) for size, edge in zip(shape[-len(patch):], patch)]
        steps = compute_steps_for_sliding_window(padded, patch, SLIDING_WINDOW_STEP)
        tiles += slices * int(np.prod([len(axis) for axis in steps]))
    return tiles


def mirrored_passes(trainer) -> int:
    """Forward passes per tile in the final validation: 2^axes with test-time mirroring."""
    axes = trainer.augmentation.mirror_axes or ()
    return 2 ** len(axes) if trainer.settings.test_time_mirroring else 1
