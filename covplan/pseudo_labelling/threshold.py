"""The uncertainty threshold of pseudo-labelling, chosen on cross-validation predictions.

Each labelled case predicted by the fold that held it out gives, for every voxel, the
predicted label, the predictive entropy (``covplan predict --save-uncertainty``'s map) and
the truth. :class:`KeptVoxelCounts` counts them by entropy bin; :func:`choose_threshold`
takes the largest entropy ``t`` at which the voxels kept (entropy <= ``t``) agree with the
truth at least ``target_precision`` for every class, both ways: of the kept voxels
predicted as a class, that share is the class (precision), and of the kept voxels of a
class, that share is predicted as it (so that a confident miss counts as much as a
confident false alarm). Counting over every voxel would let the background, most of any
CT, hide a lesion class's errors. Every class the cross-validation truth holds must keep
at least one voxel predicted as it: a weak model that predicts no lesion would otherwise
pass at the threshold that keeps only its sure background, and its pseudo-labels would
hold background and ignore alone, teaching the next round that there are no lesions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from covplan.errors import CovplanError

# Thresholds tried: 0 and 600 steps geometric from a millionth of the largest entropy to
# it, so that small entropies (the confident voxels) are resolved as finely as large ones.
THRESHOLD_STEPS = 600
SMALLEST_FRACTION = 1e-6


def threshold_grid(num_classes: int) -> np.ndarray:
    """The entropies tried as thresholds, from 0 to ln(``num_classes``): the largest
    entropy of ``num_classes`` probabilities that sum to one."""
    largest = math.log(num_classes)
    return np.concatenate([[0.0], largest * np.logspace(math.log10(SMALLEST_FRACTION), 0, THRESHOLD_STEPS)])


class KeptVoxelCounts:
    """Voxels counted by (entropy bin, predicted class, true class), over the cases added."""

    def __init__(self, class_values: list[int]):
        self.class_values = list(class_values)
        self.grid = threshold_grid(len(class_values))
        size = len(class_values)
        self.counts = np.zeros((len(self.grid), size, size), dtype=np.int64)
        self._lookup = np.full(max(class_values) + 1, -1, dtype=np.int64)
        self._lookup[class_values] = np.arange(size)

    def add(self, entropy: np.ndarray, predicted: np.ndarray, truth: np.ndarray, ignore_label: int | None) -> None:
        """One case; voxels the truth marks with ``ignore_label`` do not count."""
        scored = truth != ignore_label if ignore_label is not None else np.ones(truth.shape, dtype=bool)
        size = len(self.class_values)
        # The first threshold at or above each voxel's entropy: it is kept from there on.
        bins = np.minimum(np.searchsorted(self.grid, entropy[scored], side="left"), len(self.grid) - 1)
        index = (bins * size + self._lookup[predicted[scored]]) * size + self._lookup[truth[scored]]
        self.counts += np.bincount(index.ravel(), minlength=self.counts.size).reshape(self.counts.shape)

    @property
    def voxels(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold chosen and the evidence for it."""

    threshold: float  # voxels of entropy (nats) above it are marked ignore
    target_precision: float
    agreement: dict[str, float | None]  # per class: min(precision, recall) of the kept CV voxels; None: no such voxel
    kept_fraction: float  # of the CV voxels
    cv_voxels: int

    def record(self) -> dict:
        return {"threshold_entropy_nats": self.threshold, "target_precision": self.target_precision,
                "cv_agreement_at_threshold": self.agreement, "cv_kept_fraction": self.kept_fraction,
                "cv_voxels": self.cv_voxels}


def _agreement(confusion: np.ndarray) -> np.ndarray:
    """Per class, the smaller of precision and recall of a confusion matrix (rows
    predicted, columns true); NaN where the class has no voxel either way."""
    correct = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = correct / confusion.sum(axis=-1)
        recall = correct / confusion.sum(axis=-2)
    return np.fmin(precision, recall)  # fmin: a class seen only one way is judged on that way


def choose_threshold(counts: KeptVoxelCounts, target_precision: float, class_names: dict[int, str]
                     ) -> ThresholdChoice:
    """The largest threshold of ``counts.grid`` at which every class's agreement reaches
    ``target_precision``; refused in one line when none does."""
    if counts.voxels == 0:
        raise CovplanError("no cross-validation voxel to choose the threshold on; train the models' folds with "
                           "validation (not --no-evaluate) on a dataset with labelled cases")
    kept = np.cumsum(counts.counts, axis=0)
    agreement = _agreement(kept)
    worst = np.where(np.isnan(agreement), np.inf, agreement).min(axis=1)
    names = [class_names.get(value, str(value)) for value in counts.class_values]
    in_truth = counts.counts.sum(axis=(0, 1)) > 0
    every_class_kept = ((kept.sum(axis=2) > 0) | ~in_truth).all(axis=1)
    if not every_class_kept.any():
        never = [name for name, predicted, present in zip(names, kept[-1].sum(axis=1) > 0, in_truth)
                 if present and not predicted]
        raise CovplanError(f"the models predict no voxel of {', '.join(never)} in the cross-validation cases, whose "
                           f"truth has them: their pseudo-labels would teach that there are none; train the models "
                           f"longer (a larger --time-budget or more epochs) before pseudo-labelling")
    passing = np.flatnonzero((worst >= target_precision) & every_class_kept)
    if not len(passing):
        # The best of the thresholds that could be chosen: those keeping every class.
        best = int(np.argmax(np.where(np.isinf(worst) | ~every_class_kept, -np.inf, worst)))
        raise CovplanError(f"no uncertainty threshold makes the kept cross-validation voxels agree with the truth at "
                           f"{target_precision:g} for every class (best {worst[best]:.3f}, at entropy "
                           f"{counts.grid[best]:.3g}); lower --target-precision or train the models longer")
    chosen = passing[-1]
    return ThresholdChoice(
        threshold=float(counts.grid[chosen]), target_precision=target_precision,
        agreement={name: None if np.isnan(value) else round(float(value), 6)
                   for name, value in zip(names, agreement[chosen])},
        kept_fraction=round(float(kept[chosen].sum() / counts.voxels), 6), cv_voxels=counts.voxels)
