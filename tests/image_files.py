"""Tiny label maps and images written as NIfTI, PNG or JSON, for the evaluation, report and
post-processing tests, and a reference/prediction pair whose metrics are counted by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

LUNG_INFECTION_LABELS = {"background": 0, "left lung": 1, "right lung": 2, "infection": 3}
LESION_TYPE_LABELS = {"background": 0, "GGO": 1, "consolidation": 2}


def write_nifti(path: Path, array: np.ndarray, spacing_xyz: tuple[float, ...] = (1.0, 1.0, 1.0)) -> Path:
    """``array`` in (z, y, x) order, as SimpleITK and nnU-Net hold it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing_xyz)
    sitk.WriteImage(image, str(path))
    return path


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.uint8)), str(path))
    return path


def write_json(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def lung_infection_pair() -> tuple[np.ndarray, np.ndarray]:
    """A reference and a prediction (4 x 10 x 10) with hand-countable differences.

    Reference: rows 0-4 left lung (1), rows 5-9 right lung (2), 4 infection voxels (3) at
    z=0, y=0, x=0..3. Prediction: x=0..1 of that infection called left lung, and one extra
    infection voxel at z=1, y=0, x=0 (reference: left lung).
    Infection: TP 2, FP 1, FN 2, TN 395. Left lung: TP 195, FP 2, FN 1, TN 202.
    """
    reference = np.zeros((4, 10, 10), np.uint8)
    reference[:, :5, :] = 1
    reference[:, 5:, :] = 2
    reference[0, 0, :4] = 3
    prediction = reference.copy()
    prediction[0, 0, :2] = 1
    prediction[1, 0, 0] = 3
    return reference, prediction
