"""A lung mask derived from the image alone, for models without a lung class (lesion types
on slices), so that their reports still give the share of the lung affected and a grade.

The classical method, per axial slice and then over the volume:

1. **Air-like voxels.** CT in Hounsfield units: below ``LUNG_MAX_HU`` (-400 HU; aerated
   lung lies around -850, soft tissue around 40). Windowed 8-bit images (slices saved as
   PNG/JPG, or CT windowed to 0..255): their window is unknown, so the threshold is
   Otsu's between the dark (air, lung) and the bright (tissue, bone) pixels.
2. **Outside air removed.** Air-like regions that line at least a quarter of the slice
   border lie outside the body (and the scanner's field-of-view circle): dropped. A
   region touching the border along a shorter stretch is kept, because slices saved
   cropped to the chest (COVID-SemiSeg) cut the lungs at the border. Connectivity is judged
   after eroding the air by two pixels (then grown back), so that a gap in a thin,
   blurred chest wall does not join a lung to the outside.
3. **Holes filled.** Vessels, airway walls and lesions inside the lung are holes in the
   air mask: filled per slice.
4. **The largest components.** Of the connected components (3D for volumes, 2D for a
   slice), those with at least ``MIN_COMPONENT_SHARE`` (a tenth) of the largest one's
   size are kept: both lungs, and the pieces that lesions cut a lung into on a slice;
   bowel gas, the trachea's separate pieces and noise go.

Known limits: the trachea and main bronchi stay where they join a lung; dense
consolidation that reaches the lung border is left out (the report counts every lesion
voxel as lung anyway); a slice cut off inside the lung opens the lung to the border.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LUNG_MAX_HU = -400.0
# An image whose values go below this is in HU; windowed 8-bit images lie in 0..255.
HU_MINIMUM_BELOW = -500.0
MIN_COMPONENT_SHARE = 0.1
EROSION_ITERATIONS = 2
# Outside air surrounds the body and lines much of the image border; a lung of a slice
# cropped to the chest touches the border along a short stretch only.
OUTSIDE_AIR_BORDER_SHARE = 0.25


def air_threshold(image: np.ndarray) -> float:
    """``LUNG_MAX_HU`` for CT in HU, Otsu's threshold for windowed 8-bit images."""
    if float(image.min()) < HU_MINIMUM_BELOW:
        return LUNG_MAX_HU
    return otsu_threshold(image)


def otsu_threshold(image: np.ndarray, bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of the histogram."""
    counts, edges = np.histogram(image, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def _inside_body(air: np.ndarray) -> np.ndarray:
    """One slice's air-like pixels that are not connected to its border, holes filled.
    Connectivity is judged on the air eroded by ``EROSION_ITERATIONS`` pixels, so that a
    thin chest wall (blurred, noisy) with a gap does not join a lung to the outside air;
    the kept parts are then grown back within the air."""
    core = ndimage.binary_erosion(air, iterations=EROSION_ITERATIONS, border_value=1)  # outside air reaches the border
    components, _ = ndimage.label(core)
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    labels, border_pixels = np.unique(border[border > 0], return_counts=True)
    outside = labels[border_pixels >= OUTSIDE_AIR_BORDER_SHARE * border.size]
    inside = (components > 0) & ~np.isin(components, outside)
    inside = ndimage.binary_dilation(inside, iterations=EROSION_ITERATIONS) & air
    return ndimage.binary_fill_holes(inside)


def _largest_components(mask: np.ndarray) -> np.ndarray:
    components, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return np.isin(components, np.flatnonzero(sizes >= MIN_COMPONENT_SHARE * sizes.max()) + 1)


def derive_lung_mask(image: np.ndarray) -> np.ndarray:
    """A boolean lung mask of a (z, y, x) image (one slice: z = 1), by the method of the
    module docstring."""
    air = image < air_threshold(image)
    lungs = np.stack([_inside_body(slice_air) for slice_air in air])
    if lungs.shape[0] == 1:
        return _largest_components(lungs[0])[np.newaxis]
    return _largest_components(lungs)
