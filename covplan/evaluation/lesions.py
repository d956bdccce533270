"""Lesion-wise metrics: connected components of a class in the reference and the prediction,
detection sensitivity, precision and F1, and the volume error.

- Lesions are connected components with full connectivity (26 neighbours in 3D, 8 in 2D),
  found with ``cc3d`` (``connected-components-3d``, already a dependency of nnU-Net's
  ``acvl-utils``).
- A reference lesion counts as detected when the prediction covers more than
  ``min_overlap`` of its voxels; a predicted lesion is a true detection when the reference
  covers more than ``min_overlap`` of its voxels. The default 0 means "any overlap", the
  rule of the MSSEG and autoPET lesion challenges.
- ``LesionSensitivity`` = detected reference lesions / reference lesions (undefined without
  reference lesions); ``LesionPrecision`` = true predicted lesions / predicted lesions
  (undefined without predicted lesions); ``LesionF1`` = their harmonic mean, 0 when only one
  side has lesions (every lesion is then missed or invented), undefined when neither has.
- ``AbsoluteVolumeError`` = |V_pred - V_ref| in mm³ (mm² for 2D slices);
  ``RelativeVolumeError`` = that / V_ref (undefined when the reference is empty).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from covplan.labels.masks import connected_components, element_size, ratio

DEFAULT_MIN_LESION_OVERLAP = 0.0


def _covered_components(components: np.ndarray, count: int, other: np.ndarray, min_overlap: float) -> int:
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    covered = np.bincount(components[other], minlength=count + 1)[1:]
    return int(np.count_nonzero(covered > min_overlap * sizes))


def lesion_metrics(reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float],
                   min_overlap: float = DEFAULT_MIN_LESION_OVERLAP) -> dict[str, float | int | None]:
    """Lesion counts, detection metrics and volume errors of two boolean masks on a grid of
    ``spacing`` (mm per axis)."""
    reference, prediction = reference.astype(bool), prediction.astype(bool)
    reference_components, reference_count = connected_components(reference)
    prediction_components, prediction_count = connected_components(prediction)
    detected = _covered_components(reference_components, reference_count, prediction, min_overlap)
    true_predictions = _covered_components(prediction_components, prediction_count, reference, min_overlap)
    sensitivity = ratio(detected, reference_count)
    precision = ratio(true_predictions, prediction_count)
    if sensitivity is None and precision is None:
        f1 = None
    else:
        sensitivity_or_zero, precision_or_zero = sensitivity or 0.0, precision or 0.0
        f1 = ratio(2 * sensitivity_or_zero * precision_or_zero, sensitivity_or_zero + precision_or_zero) or 0.0
    voxel = element_size(spacing)
    reference_volume = np.count_nonzero(reference) * voxel
    volume_error = abs(np.count_nonzero(prediction) * voxel - reference_volume)
    return {"LesionsRef": reference_count, "LesionsPred": prediction_count, "LesionsDetected": detected,
            "LesionSensitivity": sensitivity, "LesionPrecision": precision, "LesionF1": f1,
            "AbsoluteVolumeError": float(volume_error), "RelativeVolumeError": ratio(volume_error, reference_volume)}
