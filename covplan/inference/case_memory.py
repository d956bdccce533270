"""The memory a case's prediction needs, estimated before any of it starts, and a case
refused in one line when the machine does not have it.

A 1024 x 1024 x 600 CT predicted on a 23 GB machine reached 21.7 GB and was not refused: the
operating system's out-of-memory killer, or hours of swapping, answered instead. The
estimate counts what the largest arrays of each stage hold at once, per voxel, from the
case's shape, the models' classes, patch and target spacing, and whether the label map is
resampled in slabs (:mod:`covplan.inference.resampling`) or every class's probabilities are
kept on the input grid (ensembles, ``--save-probabilities``, ``--save-uncertainty``). It is
an estimate: a margin is kept, and the check is skipped where the available memory cannot
be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from covplan.errors import CovplanError
from covplan.inference.model_loading import TrainedModel
from covplan.inference.resampling import SLAB_SLICES, slab_resampler

MEMINFO = Path("/proc/meminfo")
GB = 1e9
# The estimate leaves out the interpreter, the models' weights and small arrays; it is
# refused only beyond this share of the memory available.
USABLE_SHARE = 0.9
# Bytes per voxel of the preprocessed grid: the image (float32 per channel) with
# nnU-Net's float64 copies while resampling it, and the sliding window's float16 logits
# per class and its float16 count of predictions.
PREPROCESSED_IMAGE_BYTES = 4 + 2 * 8
SLIDING_WINDOW_BYTES_PER_CLASS = 2
SLIDING_WINDOW_COUNT_BYTES = 2
# Bytes per voxel of the input grid. In slabs: the label map, the crop put back, and its
# transposed copy (uint8). Whole, one class at a time: skimage's float64 resize, its copy
# in the logits' dtype, the running maximum. With probabilities, every class: resampled
# (float16, as the logits), as probabilities and in the running mean (float32), beside
# nnU-Net's float64 resampling of one class with its three float64 coordinates and their
# stacked copy for the step along z.
SLAB_LABEL_BYTES = 3
WHOLE_GRID_RESAMPLING_BYTES = 8 + 4 + 4
PROBABILITY_BYTES_PER_CLASS = 2 + 4 + 4
NNUNET_RESAMPLING_BYTES = 8 + 2 * 3 * 8


@dataclass(frozen=True)
class CaseShape:
    """What the estimate needs to know of a case: its voxels on the input grid (inside the
    crop box) and their spacing, in the image's axis order, and its channels."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    channels: int


def available_memory_bytes() -> float | None:
    """The memory available to new allocations without swapping (Linux's MemAvailable),
    or None where it cannot be read."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _grids(case: CaseShape, model: TrainedModel) -> tuple[list[int], list[int], list[float], list[float]]:
    """The case's shape on the input grid and at the model's target spacing (both in the
    model's axis order), and those two spacings."""
    plans, configuration = model.plans_manager, model.configuration_manager
    shape = [case.shape[axis] for axis in plans.transpose_forward]
    spacing = [case.spacing[axis] for axis in plans.transpose_forward]
    target = list(configuration.spacing)
    if len(target) < len(shape):  # a 2D model keeps the slices' spacing across them
        target = spacing[:len(shape) - len(target)] + target
    resampled = [max(1, round(size * old / new)) for size, old, new in zip(shape, spacing, target)]
    return shape, resampled, spacing, target


def preprocessed_voxels(case: CaseShape, model: TrainedModel) -> int:
    """The case's voxels at the model's target spacing, padded to its patch as the sliding window pads."""
    resampled = _grids(case, model)[1]
    patch = list(model.configuration_manager.patch_size)
    padded = resampled[:len(resampled) - len(patch)] + [max(size, edge) for size, edge in
                                                        zip(resampled[-len(patch):], patch)]
    return math.prod(padded)


def resampled_in_slabs(case: CaseShape, model: TrainedModel) -> bool:
    """Whether the label map of ``case`` goes back to its grid in slabs (else whole)."""
    shape, resampled, spacing, target = _grids(case, model)
    return slab_resampler(model.configuration_manager, tuple(resampled), tuple(shape), target, spacing) is not None


def case_memory_bytes(case: CaseShape, models: list[TrainedModel], labels_only: bool) -> float:
    """The peak memory predicting ``case`` with ``models`` needs, estimated: the image, the
    largest model's preprocessed image and sliding window, and the way back to the input
    grid (the label map of one member in slabs where that is exact, else every class)."""
    voxels = math.prod(case.shape)
    classes = max(model.label_manager.num_segmentation_heads for model in models)
    sliding_window = max(preprocessed_voxels(case, model) * (case.channels * PREPROCESSED_IMAGE_BYTES
                                                             + classes * SLIDING_WINDOW_BYTES_PER_CLASS
                                                             + SLIDING_WINDOW_COUNT_BYTES) for model in models)
    image = case.channels * voxels * 4
    if not labels_only:
        back_to_input = voxels * (classes * PROBABILITY_BYTES_PER_CLASS + NNUNET_RESAMPLING_BYTES)
    elif all(resampled_in_slabs(case, model) for model in models):
        slab_voxels = voxels / max(1, min(case.shape)) * SLAB_SLICES  # a slab across the shortest axis, at most
        back_to_input = voxels * SLAB_LABEL_BYTES + slab_voxels * NNUNET_RESAMPLING_BYTES
    else:
        back_to_input = voxels * (SLAB_LABEL_BYTES + WHOLE_GRID_RESAMPLING_BYTES)
    # The image is let go before the way back (covplan.inference.predict.predict_case).
    return max(image + sliding_window, sliding_window + back_to_input)


def refuse_if_memory_short(source: Path, case: CaseShape, models: list[TrainedModel], labels_only: bool) -> None:
    """Refuse ``case`` in one line, with the figures and the ways to need less, when its
    estimated peak passes the memory available."""
    available = available_memory_bytes()
    if available is None:
        return
    needed = case_memory_bytes(case, models, labels_only)
    if needed <= USABLE_SHARE * available:
        return
    lighter = ("" if labels_only else
               "; one model and one fold (-f 0) without --save-probabilities/--save-uncertainty need less (the "
               "label map is then resampled in slabs)")
    raise CovplanError(f"{source}: predicting this {' x '.join(map(str, case.shape))} image needs about "
                       f"{needed / GB:.1f} GB of memory, and {available / GB:.1f} GB are available; predict it on a "
                       f"machine with more memory{lighter}")
