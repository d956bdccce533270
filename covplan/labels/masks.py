"""Measuring helpers shared by the metrics and the post-processing rules: the physical grid
of a label map (2D slices, which nnU-Net reads as (1, y, x) with spacing 999 on the missing
axis, are measured in mm², volumes in mm³), bounding boxes, connected components, overlap
counts turned into metrics, and ratios and means that stay undefined (``None``) instead of
NaN."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cc3d
import numpy as np


def physical_grid(mask: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, tuple[float, ...]]:
    """``mask`` without the dummy axis of a single-slice map, and the spacing of its axes.

    A map whose first axis has one element is measured as 2D (areas in mm², distances in the
    plane); every other map as 3D.
    """
    if mask.ndim == 3 and mask.shape[0] == 1:
        return mask[0], tuple(float(s) for s in spacing[-2:])
    return mask, tuple(float(s) for s in spacing[-mask.ndim:])


def element_size(spacing: Sequence[float]) -> float:
    """Volume (mm³) or area (mm²) of one voxel or pixel."""
    return float(np.prod(spacing))


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, ``None`` (undefined) when the denominator is zero."""
    return None if denominator == 0 else numerator / denominator


def mean_of_defined(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not ``None``; ``None`` when there are none."""
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """The slices around the ``True`` voxels of a non-empty mask, widened by ``margin``
    voxels within the image."""
    box = []
    for axis in range(mask.ndim):
        occupied = np.flatnonzero(mask.any(axis=tuple(other for other in range(mask.ndim) if other != axis)))
        box.append(slice(max(int(occupied[0]) - margin, 0), int(occupied[-1]) + 1 + margin))
    return tuple(box)


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Component ids (1..n, 0 = outside) with full connectivity, and n."""
    connectivity = 26 if mask.ndim == 3 else 8
    components, count = cc3d.connected_components(np.ascontiguousarray(mask, dtype=np.uint8),
                                                  connectivity=connectivity, return_N=True)
    return components, int(count)


def metrics_from_counts(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int | None]:
    """nnU-Net's per-class metrics (Dice, IoU, counts) plus sensitivity, specificity and
    precision; ``None`` where a ratio is undefined."""
    tp, fp, fn, tn = int(tp), int(fp), int(fn), int(tn)
    return {"Dice": ratio(2 * tp, 2 * tp + fp + fn), "IoU": ratio(tp, tp + fp + fn),
            "Sensitivity": ratio(tp, tp + fn), "Specificity": ratio(tn, tn + fp), "Precision": ratio(tp, tp + fp),
            "TP": tp, "FP": fp, "FN": fn, "TN": tn, "n_pred": tp + fp, "n_ref": tp + fn}
