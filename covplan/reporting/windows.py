"""Grey-value windows for drawing CT: the usual lung and mediastinal windows for images in
Hounsfield units, and a percentile range for anything else (windowed 8-bit slices, MR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    name: str
    low: float
    high: float


# Level -600 HU, width 1500 HU; level 40 HU, width 400 HU.
LUNG_WINDOW = Window("lung", -1350.0, 150.0)
MEDIASTINAL_WINDOW = Window("mediastinal", -160.0, 240.0)


def is_hounsfield(image: np.ndarray) -> bool:
    """Air is about -1000 HU; no windowed or unsigned image goes below -200."""
    return bool(image.min() < -200)


def image_windows(image: np.ndarray) -> list[Window]:
    """The windows a reader can choose for ``image``, the first one shown: lung and
    mediastinal in HU, else the 0.5 to 99.5 percentile range."""
    if is_hounsfield(image):
        return [LUNG_WINDOW, MEDIASTINAL_WINDOW]
    low, high = np.percentile(image, (0.5, 99.5))
    return [Window("full range", float(low), float(max(high, low + 1)))]
