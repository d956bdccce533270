"""A synthetic chest CT in HU: body, fat, spine, heart, both lungs with airways and
vessels, and lesions of the documented types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from covplan.conversion.slice_format import MASK_SUFFIXES

# Lesion types, as numbered in the slice format (docs/formats.md).
GGO, CONSOLIDATION, FIBROSIS = (MASK_SUFFIXES[name] for name in ("ggo", "consolidation", "fibrosis"))

# Lung labels as in COVID-19-CT-Seg: 1 left lung, 2 right lung.
LEFT_LUNG, RIGHT_LUNG = 1, 2

# Typical attenuation of each tissue.
HU = {"air": -1000.0, "lung": -850.0, "fat": -100.0, "soft_tissue": 40.0, "blood": 45.0, "bone": 700.0,
      GGO: -600.0, CONSOLIDATION: 30.0, FIBROSIS: -350.0}
NOISE_HU = 15.0

# Field of view of a chest CT: 360 mm across, 240 mm head to feet.
FIELD_OF_VIEW_MM = (240.0, 360.0, 360.0)


@dataclass(frozen=True)
class Phantom:
    """One synthetic chest CT: arrays in (z, y, x) order, spacing in (x, y, z) order as
    SimpleITK wants it."""

    hu: np.ndarray  # int16
    lungs: np.ndarray  # uint8: 0 outside, LEFT_LUNG, RIGHT_LUNG
    lesions: np.ndarray  # uint8: 0 none, GGO, CONSOLIDATION, FIBROSIS
    spacing: tuple[float, ...]


def _ellipse(grid: tuple[np.ndarray, ...], centre: tuple[float, ...], radii: tuple[float, ...]) -> np.ndarray:
    return sum(((axis - c) / r) ** 2 for axis, c, r in zip(grid, centre, radii)) <= 1.0


def chest_phantom(shape: tuple[int, int, int], rng: np.random.Generator, lesion_types: tuple[int, ...] = (),
                  num_lesions: int = 0) -> Phantom:
    """A chest CT of ``shape`` (z, y, x); with ``shape[0] == 1`` one axial slice through
    the middle of the lungs. ``num_lesions`` lesions of the given types are placed inside
    the lungs. Patient left is +x and posterior is +y (LPS), as in DICOM."""
    depth, height, width = shape
    z = np.zeros(1) if depth == 1 else np.linspace(-1.0, 1.0, depth)
    grid = np.meshgrid(z, np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width), indexing="ij")
    w, v, u = grid
    jitter = rng.uniform(-0.04, 0.04, size=4)

    hu = np.full(shape, HU["air"], dtype=np.float32)
    body = _ellipse((v, u), (0.05, 0.0), (0.62 + jitter[0], 0.92 + jitter[1]))
    hu[body] = HU["fat"]
    hu[_ellipse((v, u), (0.05, 0.0), (0.56 + jitter[0], 0.85 + jitter[1]))] = HU["soft_tissue"]
    hu[_ellipse((v, u), (0.5, 0.0), (0.1, 0.1))] = HU["bone"]

    heart = _ellipse((w, v, u), (-0.45, -0.08, 0.12), (0.7, 0.26, 0.24))
    lungs = np.zeros(shape, dtype=np.uint8)
    for label, side in ((LEFT_LUNG, 1.0), (RIGHT_LUNG, -1.0)):
        lung = _ellipse((w, v, u), (0.0, 0.02, side * (0.42 + jitter[2])), (0.95, 0.42 + jitter[3], 0.3))
        lungs[lung & ~heart] = label
    hu[lungs > 0] = HU["lung"]
    hu[heart] = HU["blood"]

    airways = _ellipse((v, u), (-0.2, 0.0), (0.06, 0.06)) & (w > 0.2) & body
    for side in (1.0, -1.0):  # main bronchi, running into each lung
        bronchus = _ellipse((w, v, u - side * 0.13 * (0.6 - w)), (0.0, -0.12, 0.0), (0.6, 0.05, 0.045))
        airways |= bronchus & (w <= 0.35)
    hu[airways] = HU["air"]
    for _ in range(6):  # vessels: thin tubes running head to feet inside the lungs
        centre = (rng.uniform(-0.3, 0.3), rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.5))
        hu[_ellipse((v, u), centre, (0.025, 0.025)) & (lungs > 0)] = HU["blood"]

    lesions = _place_lesions(grid, lungs, rng, lesion_types, num_lesions)
    for lesion_type in lesion_types:
        hu[lesions == lesion_type] = HU[lesion_type]
    hu = ndimage.gaussian_filter(hu, sigma=(0.0 if depth == 1 else 0.5, 0.7, 0.7))  # scanner blur
    hu += rng.normal(0.0, NOISE_HU, size=shape).astype(np.float32)
    spacing = tuple(fov / n for fov, n in zip(FIELD_OF_VIEW_MM[::-1], (width, height, depth)))
    return Phantom(np.clip(np.rint(hu), -1024, 3071).astype(np.int16), lungs, lesions, spacing)


def _place_lesions(grid: tuple[np.ndarray, ...], lungs: np.ndarray, rng: np.random.Generator,
                   lesion_types: tuple[int, ...], num_lesions: int) -> np.ndarray:
    lesions = np.zeros(lungs.shape, dtype=np.uint8)
    lung_voxels = np.argwhere(lungs > 0)
    w, v, u = grid
    for index in range(num_lesions if lesion_types else 0):
        centre_voxel = lung_voxels[rng.integers(len(lung_voxels))]
        centre = tuple(axis[tuple(centre_voxel)] for axis in grid)
        radius = rng.uniform(0.12, 0.22)
        lesion_type = lesion_types[index % len(lesion_types)]
        region = _ellipse((w, v, u), centre, (2.5 * radius, radius, radius * 0.8))
        if lesion_type == FIBROSIS:  # reticular: streaks, not a solid blob
            region &= np.sin(40.0 * (v + u)) > 0.3
        lesions[region & (lungs > 0)] = lesion_type
    return lesions
