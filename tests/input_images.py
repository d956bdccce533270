"""Input images like the tiny WORK folders' training cases (a bright ball or disc in noise),
on a grid with non-trivial spacing, origin and direction, as NIfTI, PNG or a DICOM series."""

from __future__ import annotations

import locale
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

SPACING = (1.1, 0.9, 1.05)  # x, y, z
ORIGIN = (-12.5, 30.0, 7.25)
DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # a quarter turn about z


def ball(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image (label * 2 + N(0, 0.4)) and its label: a ball of radius 6 near the centre."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    centre = [s / 2 + rng.uniform(-1, 1) for s in shape]
    label = (np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre))) <= 6).astype(np.uint8)
    return (label * 2.0 + rng.normal(0, 0.4, shape)).astype(np.float32), label


def write_sphere_volume(path: Path, seed: int = 0, shape: tuple[int, int, int] = (20, 24, 24)) -> np.ndarray:
    image, label = ball(shape, seed)
    volume = sitk.GetImageFromArray(image)
    volume.SetSpacing(SPACING)
    volume.SetOrigin(ORIGIN)
    volume.SetDirection(DIRECTION)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(volume, str(path))
    return label


def write_disc_png(path: Path, seed: int = 0, shape: tuple[int, int] = (36, 40)) -> np.ndarray:
    """A grey slice: disc at 170, background at 70, noise of 20 grey values."""
    image, label = ball(shape, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(70 + image * 50, 0, 255).astype(np.uint8)).save(path)
    return label


def write_dicom_series(volume: np.ndarray, folder: Path, spacing: tuple[float, float, float] = (0.7, 0.7, 2.5)) -> None:
    """One CT series, one file per slice, with the position tags a series reader sorts by."""
    folder.mkdir(parents=True)
    # ITK's DICOM writer switches the whole process to the C locale and leaves it so;
    # later tests read UTF-8 text with the default encoding.
    previous_locale = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_slices(volume, folder, spacing)
    finally:
        locale.setlocale(locale.LC_ALL, previous_locale)


def _write_dicom_slices(volume: np.ndarray, folder: Path, spacing: tuple[float, float, float]) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for index, plane in enumerate(volume):
        image = sitk.GetImageFromArray(plane[None].astype(np.int16))
        image.SetSpacing(spacing)
        image.SetOrigin((0.0, 0.0, index * spacing[2]))
        for tag, value in {"0020|000e": "1.2.826.0.1.3680043.2.1125.1", "0020|000d": "1.2.826.0.1.3680043.2.1125.2",
                           "0008|0060": "CT", "0020|0013": str(index + 1),
                           "0020|0032": f"0\\0\\{index * spacing[2]}", "0020|0037": "1\\0\\0\\0\\1\\0",
                           "0008|0018": f"1.2.826.0.1.3680043.2.1125.3.{index}"}.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice_{index:03d}.dcm"))
        writer.Execute(image)


def dice(prediction: np.ndarray, label: np.ndarray) -> float:
    both = np.logical_and(prediction == 1, label == 1).sum()
    return 2 * both / ((prediction == 1).sum() + (label == 1).sum())
