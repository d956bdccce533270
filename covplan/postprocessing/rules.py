"""Post-processing rules: plain functions on a label map (z, y, x) or (y, x) and its spacing
in mm, each returning a new label map. A stored rule is a dict naming the function in
``"rule"`` with its other arguments, e.g. ``{"rule": "keep_largest", "label": 1}``.

Voxels a rule removes take the label that is most common around them (over each removed
component's 26-neighbour shell): a lesion speck inside the lung becomes lung, a lung
fragment in the air becomes background. nnU-Net sets removed voxels to background; that
would punch holes into the lung wherever a lesion speck is removed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from covplan.errors import CovplanError
from covplan.labels.masks import bounding_box, connected_components, element_size, physical_grid


def relabel_from_surroundings(segmentation: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``segmentation`` with every connected component of ``removed`` set to the most common
    label of the voxels touching it (background where nothing else touches it)."""
    result = segmentation.copy()
    if not removed.any():
        return result
    box = bounding_box(removed, margin=1)
    labels, removed_here = result[box], removed[box]
    components, count = connected_components(removed_here)
    neighbours = ndimage.grey_dilation(components, footprint=np.ones((3,) * components.ndim, bool))
    shell = (neighbours > 0) & ~removed_here
    label_count = int(labels.max()) + 1
    votes = np.bincount(neighbours[shell].astype(np.int64) * label_count + labels[shell],
                        minlength=(count + 1) * label_count).reshape(count + 1, label_count)
    labels[removed_here] = votes.argmax(axis=1)[components[removed_here]]
    return result


def remove_small_components(segmentation: np.ndarray, spacing: Sequence[float], label: int,
                            min_size_mm3: float | None = None, min_size_mm2: float | None = None) -> np.ndarray:
    """Remove the components of ``label`` smaller than ``min_size_mm3`` (volumes) or
    ``min_size_mm2`` (2D slices)."""
    min_size = min_size_mm3 if min_size_mm3 is not None else min_size_mm2
    if min_size is None:
        raise CovplanError("remove_small_components needs min_size_mm3 (volumes) or min_size_mm2 (slices)")
    components, count = connected_components(segmentation == label)
    sizes = np.bincount(components.ravel(), minlength=count + 1) * element_size(spacing)
    small = sizes < min_size
    small[0] = False
    return relabel_from_surroundings(segmentation, small[components])


def restrict_to_lung(segmentation: np.ndarray, spacing: Sequence[float], lesion_labels: Sequence[int],
                     lung_labels: Sequence[int]) -> np.ndarray:
    """Remove lesions that do not touch the predicted lung: components of lung-or-lesion
    voxels that hold no lung voxel lose their lesion voxels (to background, which is all
    that surrounds them)."""
    lesion = np.isin(segmentation, lesion_labels)
    lung = np.isin(segmentation, lung_labels)
    components, _ = connected_components(lesion | lung)
    outside = lesion & ~np.isin(components, np.unique(components[lung]))
    result = segmentation.copy()
    result[outside] = 0
    return result


def fill_holes(segmentation: np.ndarray, spacing: Sequence[float], label: int) -> np.ndarray:
    """Fill background enclosed by ``label`` (3D holes in volumes, 2D in slices); enclosed
    voxels of other labels (lesions inside the lung) stay as they are."""
    mask = segmentation == label
    result = segmentation.copy()
    result[ndimage.binary_fill_holes(mask) & ~mask & (segmentation == 0)] = label
    return result


def keep_largest(segmentation: np.ndarray, spacing: Sequence[float], label: int) -> np.ndarray:
    """Keep only the largest connected component of ``label``."""
    components, count = connected_components(segmentation == label)
    if count < 2:
        return segmentation.copy()
    largest = int(np.argmax(np.bincount(components.ravel())[1:])) + 1
    return relabel_from_surroundings(segmentation, (components > 0) & (components != largest))


RULES: dict[str, Callable[..., np.ndarray]] = {rule.__name__: rule for rule in (
    remove_small_components, restrict_to_lung, fill_holes, keep_largest)}


def check_rule(rule: Mapping[str, Any]) -> None:
    """Refuse a rule with an unknown name or arguments its function does not take."""
    name = rule.get("rule")
    if name not in RULES:
        raise CovplanError(f"unknown post-processing rule {name!r}; known rules: {', '.join(RULES)}")
    arguments = {key: value for key, value in rule.items() if key != "rule"}
    try:
        inspect.signature(RULES[name]).bind(None, None, **arguments)
    except TypeError as error:
        raise CovplanError(f"post-processing rule {dict(rule)}: {error}") from error


def apply_postprocessing(segmentation: np.ndarray, rules: Sequence[Mapping[str, Any]],
                         spacing: Sequence[float]) -> np.ndarray:
    """Apply ``rules`` in order to a label map on a grid of ``spacing`` (mm, array axis
    order; a (1, y, x) slice is treated as 2D); returns a new label map of the same shape
    and dtype."""
    grid, grid_spacing = physical_grid(segmentation, spacing)
    for rule in rules:
        check_rule(rule)
        arguments = {key: value for key, value in rule.items() if key != "rule"}
        grid = RULES[rule["rule"]](grid, grid_spacing, **arguments)
    return grid.reshape(segmentation.shape).astype(segmentation.dtype, copy=False)
