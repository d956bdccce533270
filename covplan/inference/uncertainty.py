"""Ensemble statistics without keeping the members: Welford's running mean and variance,
the predictive entropy of the mean, and a per-case summary inside the predicted lesions."""

from __future__ import annotations

import numpy as np

# Written by `covplan predict --save-uncertainty`, read by `covplan report`.
UNCERTAINTY_SUMMARY = "uncertainty_summary.json"
UNCERTAINTY_NOTE = ("mean predictive entropy (nats) of the ensemble's mean probabilities inside the voxels "
                    "predicted as a lesion label; null without lesion voxels")


class RunningMoments:
    """Mean (and, with ``track_variance``, variance) over the members added one at a time;
    memory stays two arrays whatever the number of members (Welford's algorithm)."""

    def __init__(self, track_variance: bool = True):
        self.track_variance = track_variance
        self.count = 0
        self.mean: np.ndarray | None = None
        self._squared_deviations: np.ndarray | None = None

    def add(self, values: np.ndarray) -> None:
        """Add one member. The first one's float32 array becomes the running mean (no
        copy: a full-size CT's probabilities are large), so pass a copy to keep it."""
        values = np.asarray(values, dtype=np.float32)
        self.count += 1
        if self.mean is None:
            self.mean = values
            if self.track_variance:
                self._squared_deviations = np.zeros_like(self.mean)
            return
        if values.shape != self.mean.shape:
            raise ValueError(f"member of shape {values.shape} added to moments of shape {self.mean.shape}")
        delta = values - self.mean
        self.mean += delta / self.count
        if self.track_variance:
            self._squared_deviations += delta * (values - self.mean)

    @property
    def variance(self) -> np.ndarray:
        """Population variance over the members (zero for a single member)."""
        if not self.track_variance or self._squared_deviations is None:
            raise ValueError("no variance: nothing added, or track_variance is off")
        return self._squared_deviations / self.count


def predictive_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy in nats over the class axis 0 of (mean) class probabilities."""
    clipped = np.clip(probabilities, np.finfo(np.float32).tiny, 1.0)
    return -(probabilities * np.log(clipped)).sum(axis=0)


def lesion_uncertainty(entropy: np.ndarray, segmentation: np.ndarray, lesion_labels: tuple[int, ...]
                       ) -> dict[str, float | int | None]:
    """Mean entropy inside the voxels predicted as any lesion label (None without any)."""
    inside = np.isin(segmentation, lesion_labels)
    voxels = int(inside.sum())
    return {"mean_entropy_in_lesions": float(entropy[inside].mean()) if voxels else None, "lesion_voxels": voxels}
