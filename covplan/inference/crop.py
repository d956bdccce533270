"""Predict only where the patient is: the bounding box of the body, found from the image
by a classical method, so that the air around the patient costs no network time and no
memory.

The method (``--crop body``, the default):

1. threshold channel 0 at -500 HU (air and lung lie below it, soft tissue, bone and the
   scanner table above it); an 8-bit grey image is thresholded at the same HU value
   mapped by the converters' window (grey 128);
2. on a grid coarsened to about :data:`SEARCH_SPACING_MM` per voxel (a lower resolution
   finds the same box, a hundred times faster), keep the largest 3D connected component:
   the body; the table, clothing and noise are smaller components;
3. its bounding box, widened by :data:`MARGIN_MM` on every side (and to the image's
   edge where that is nearer), is what the network sees.

``--crop lung`` predicts inside the lungs' bounding box instead (the lungs found as
``covplan report`` derives them: air-like voxels inside the body, holes filled, the two
largest components), with the same margin: for models of the lung and what lies in it,
the mediastinum's and abdomen's slices cost nothing either.

The image is preprocessed whole (so a per-image normalisation sees what it would see
without the crop); the box is then cut from the preprocessed image, widened to at least
one patch, and only it is tiled by the sliding window. Outside it every class but the
background gets no logit mass, so every output calls it background with certainty. No
tissue at all (an empty image) predicts the whole image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from covplan.conversion.images import HU_WINDOW
from covplan.labels.lung_mask import derive_lung_mask

logger = logging.getLogger(__name__)

CROP_MODES = ("body", "lung", "none")
BODY_THRESHOLD_HU = -500.0
# Context the network sees beyond the skin: tiles at the box's edge are padded by nnU-Net
# with values that are not air, so the box keeps 2 cm of the real image around the body.
MARGIN_MM = 20.0
SEARCH_SPACING_MM = 2.0


def body_threshold(intensity_domain: str | None) -> float:
    """:data:`BODY_THRESHOLD_HU` in the model's intensity domain (HU, or 8-bit grey
    through the converters' window)."""
    if intensity_domain == "grey8":
        low, high = HU_WINDOW
        return (BODY_THRESHOLD_HU - low) / (high - low) * 255.0
    return BODY_THRESHOLD_HU


@dataclass(frozen=True)
class CropBox:
    """A box of the input grid, ``(z, y, x)`` slices (z = one slice for a 2D image)."""

    slices: tuple[slice, ...]
    full_shape: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(part.stop - part.start for part in self.slices)

    @property
    def fraction(self) -> float:
        """The box's share of the image's voxels."""
        return float(np.prod(self.shape) / np.prod(self.full_shape))

    @property
    def is_whole_image(self) -> bool:
        return self.shape == self.full_shape

    def in_preprocessed(self, properties: dict, transpose_forward: Sequence[int], preprocessed_shape: Sequence[int],
                        patch_size: Sequence[int]) -> tuple[slice, ...]:
        """The box on the grid nnU-Net's preprocessing made (transposed, cropped to the
        non-zero region, resampled; ``properties`` as it returned them), widened to whole
        voxels and to at least ``patch_size`` (its trailing axes), so that no tile of the
        sliding window is padded with values the full image would not have there."""
        boxes = []
        for axis, (bbox, cropped_size, size) in enumerate(zip(properties["bbox_used_for_cropping"],
                                                              properties["shape_after_cropping_and_before_resampling"],
                                                              preprocessed_shape)):
            part = self.slices[transpose_forward[axis]]
            scale = size / cropped_size
            start = max(0, int(np.floor((part.start - bbox[0]) * scale)))
            stop = min(size, int(np.ceil((part.stop - bbox[0]) * scale)))
            boxes.append([start, max(start, stop)])
        for (start_stop, size), patch in zip(list(zip(boxes, preprocessed_shape))[-len(patch_size):], patch_size):
            missing = min(patch, size) - (start_stop[1] - start_stop[0])
            if missing > 0:
                start_stop[0] = max(0, min(start_stop[0] - missing // 2, size - min(patch, size)))
                start_stop[1] = start_stop[0] + min(patch, size)
        return tuple(slice(start, stop) for start, stop in boxes)


def _search_strides(spacing_zyx: Sequence[float]) -> tuple[int, ...]:
    return tuple(max(1, int(SEARCH_SPACING_MM // value)) for value in spacing_zyx)


def _box_around(mask: np.ndarray, strides: Sequence[int], spacing_zyx: Sequence[float],
                full_shape: tuple[int, ...]) -> CropBox:
    """The bounding box of ``mask`` (found on a grid coarsened by ``strides``) on the full
    grid, widened by :data:`MARGIN_MM`."""
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    slices = []
    for part, stride, spacing, size in zip(box, strides, spacing_zyx, full_shape):
        margin = int(np.ceil(MARGIN_MM / spacing))
        slices.append(slice(max(0, part.start * stride - margin), min(size, (part.stop - 1) * stride + 1 + margin)))
    return CropBox(tuple(slices), full_shape)


def _coarse(image: np.ndarray, spacing_zyx: Sequence[float]) -> tuple[np.ndarray, tuple[int, ...]]:
    strides = _search_strides(spacing_zyx)
    return image[tuple(slice(None, None, stride) for stride in strides)], strides


def body_box(image: np.ndarray, spacing_zyx: Sequence[float], intensity_domain: str | None) -> CropBox:
    """The body's bounding box with :data:`MARGIN_MM` around it (see the module's
    docstring) for ``image`` ``(z, y, x)`` with ``spacing_zyx`` in mm; the whole image when
    no tissue is found."""
    full_shape = tuple(image.shape)
    coarse, strides = _coarse(image, spacing_zyx)
    components, count = ndimage.label(coarse > body_threshold(intensity_domain))
    if count == 0:
        return CropBox(tuple(slice(0, size) for size in full_shape), full_shape)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return _box_around(components == sizes.argmax(), strides, spacing_zyx, full_shape)


def lung_box(image: np.ndarray, spacing_zyx: Sequence[float], intensity_domain: str | None) -> CropBox:
    """The lungs' bounding box with :data:`MARGIN_MM` around it, the lungs found by
    :func:`covplan.labels.lung_mask.derive_lung_mask` (the report's method) on the
    coarsened grid; the body's box when no lung is found."""
    coarse, strides = _coarse(image, spacing_zyx)
    lungs = derive_lung_mask(coarse)
    if not lungs.any():
        logger.warning("no lung found in the image; predicting inside the body's box")
        return body_box(image, spacing_zyx, intensity_domain)
    return _box_around(lungs, strides, spacing_zyx, tuple(image.shape))


def crop_box(mode: str, image: np.ndarray, spacing_zyx: Sequence[float], intensity_domain: str | None) -> CropBox:
    """The box ``--crop mode`` predicts in (``none``: the whole image)."""
    if mode == "none":
        return CropBox(tuple(slice(0, size) for size in image.shape), tuple(image.shape))
    if mode == "body":
        return body_box(image, spacing_zyx, intensity_domain)
    if mode == "lung":
        return lung_box(image, spacing_zyx, intensity_domain)
    raise ValueError(f"unknown crop mode {mode!r}; choose one of {', '.join(CROP_MODES)}")
