"""The pseudo-labels' threshold on cross-validation voxels whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.pseudo_labelling.threshold import KeptVoxelCounts, choose_threshold

NAMES = {0: "background", 1: "lesion"}


def _voxels(rng: np.random.Generator, count: int, low: float, high: float, predicted: int, truth: int):
    return rng.uniform(low, high, count), np.full(count, predicted), np.full(count, truth)


def test_the_threshold_keeps_the_sure_voxels_up_to_where_the_errors_begin():
    rng = np.random.default_rng(0)
    # Right below entropy 0.05 (both classes); at entropy 0.25, 100 voxels all wrong (lesion
    # called background and background called lesion): keeping them would drop the lesion's
    # precision to 2/3.
    parts = [_voxels(rng, 900, 0, 0.05, 0, 0), _voxels(rng, 100, 0, 0.05, 1, 1),
             _voxels(rng, 50, 0.25, 0.25, 0, 1), _voxels(rng, 50, 0.25, 0.25, 1, 0)]
    entropy, predicted, truth = (np.concatenate(values) for values in zip(*parts))
    counts = KeptVoxelCounts([0, 1])
    counts.add(entropy, predicted, truth, ignore_label=None)

    choice = choose_threshold(counts, 0.95, NAMES)

    # The largest threshold below the errors: every sure voxel kept, no wrong one.
    grid = list(counts.grid)
    assert choice.threshold < 0.25 <= grid[grid.index(choice.threshold) + 1]
    assert choice.kept_fraction == pytest.approx(1000 / 1100)
    assert choice.agreement == {"background": 1.0, "lesion": 1.0}
    assert choice.cv_voxels == 1100
    # With nothing to fear, everything is kept: the largest entropy of two classes.
    right = KeptVoxelCounts([0, 1])
    right.add(entropy, truth, truth, ignore_label=None)
    assert choose_threshold(right, 0.95, NAMES).threshold == pytest.approx(math.log(2))


def test_ignored_truth_does_not_count_and_an_unreachable_target_is_refused():
    counts = KeptVoxelCounts([0, 1])
    # Every voxel wrong, but the truth ignores the lesion ones: only background is scored.
    counts.add(np.array([0.1, 0.1, 0.1]), np.array([0, 1, 1]), np.array([0, 2, 2]), ignore_label=2)
    assert counts.voxels == 1
    wrong = KeptVoxelCounts([0, 1])
    wrong.add(np.array([0.01, 0.02]), np.array([1, 0]), np.array([0, 1]), ignore_label=None)
    with pytest.raises(CovplanError, match=r"^no uncertainty threshold makes the kept cross-validation voxels agree "
                                           r"with the truth at 0.9 for every class .*lower --target-precision"):
        choose_threshold(wrong, 0.9, NAMES)


def test_a_model_that_predicts_no_lesion_is_refused_however_sure_its_background():
    rng = np.random.default_rng(1)
    # Sure background everywhere it is background; the lesion called background, unsure:
    # the lowest thresholds keep only right voxels, but none of the lesion class.
    parts = [_voxels(rng, 900, 0, 0.05, 0, 0), _voxels(rng, 100, 0.3, 0.6, 0, 1)]
    entropy, predicted, truth = (np.concatenate(values) for values in zip(*parts))
    counts = KeptVoxelCounts([0, 1])
    counts.add(entropy, predicted, truth, ignore_label=None)
    with pytest.raises(CovplanError, match=r"^the models predict no voxel of lesion in the cross-validation cases, "
                                           r"whose truth has them: .*train the models longer"):
        choose_threshold(counts, 0.95, NAMES)
    # A class the truth does not hold needs no kept voxel.
    background_only = KeptVoxelCounts([0, 1])
    background_only.add(*_voxels(rng, 50, 0, 0.05, 0, 0), ignore_label=None)
    assert choose_threshold(background_only, 0.95, NAMES).agreement == {"background": 1.0, "lesion": None}


def test_the_refusal_names_the_best_agreement_of_a_threshold_that_keeps_every_class():
    rng = np.random.default_rng(2)
    # Sure background alone agrees perfectly, but keeps no lesion; every threshold that
    # keeps the lesion keeps the confusions too: the best such agreement is 0.5.
    parts = [_voxels(rng, 900, 0, 0.01, 0, 0), _voxels(rng, 50, 0.2, 0.2, 1, 1), _voxels(rng, 50, 0.2, 0.2, 1, 0)]
    entropy, predicted, truth = (np.concatenate(values) for values in zip(*parts))
    counts = KeptVoxelCounts([0, 1])
    counts.add(entropy, predicted, truth, ignore_label=None)
    with pytest.raises(CovplanError, match=r"for every class \(best 0.500, at entropy 0.2"):
        choose_threshold(counts, 0.9, NAMES)
