"""The physical grid of a label map: which axes are in-plane or through-plane and the size
of one element, so that 2D slices (nnU-Net reads them as (1, y, x) with spacing 999 on the
missing axis) are measured in mm² and volumes in mm³."""

from __future__ import annotations

from collections.abc import Sequence

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
