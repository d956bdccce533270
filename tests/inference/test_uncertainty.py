"""Welford's running moments, the entropy and the lesion score, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from covplan.inference.uncertainty import RunningMoments, lesion_uncertainty, predictive_entropy


def test_running_moments_by_hand():
    moments = RunningMoments()
    for value in (1.0, 2.0, 6.0):
        moments.add(np.array([value, 10.0]))
    # mean (1 + 2 + 6) / 3 = 3; squared deviations 4 + 1 + 9 = 14 -> population variance 14 / 3
    assert moments.count == 3
    assert moments.mean.tolist() == pytest.approx([3.0, 10.0])
    assert moments.variance.tolist() == pytest.approx([14 / 3, 0.0])


def test_running_moments_match_numpy_over_many_members():
    members = np.random.default_rng(0).random((7, 2, 3, 4)).astype(np.float32)
    moments = RunningMoments()
    for member in members:
        moments.add(member.copy())  # add() keeps the first array as the running mean
    np.testing.assert_allclose(moments.mean, members.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(moments.variance, members.var(axis=0), rtol=1e-4, atol=1e-7)


def test_agreeing_members_have_no_variance_and_one_member_none_at_all():
    moments = RunningMoments()
    moments.add(np.array([0.2, 0.8]))
    assert moments.variance.tolist() == [0.0, 0.0]
    moments.add(np.array([0.2, 0.8]))
    assert moments.variance.tolist() == [0.0, 0.0]
    moments.add(np.array([0.8, 0.2]))
    assert (moments.variance > 0).all()


def test_mean_only_keeps_no_variance():
    moments = RunningMoments(track_variance=False)
    moments.add(np.array([1.0]))
    moments.add(np.array([3.0]))
    assert moments.mean.tolist() == [2.0]
    with pytest.raises(ValueError):
        moments.variance


def test_entropy_by_hand():
    probabilities = np.array([[0.5, 1.0, 0.25], [0.5, 0.0, 0.75]])
    expected = [math.log(2), 0.0, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    assert predictive_entropy(probabilities).tolist() == pytest.approx(expected)


def test_lesion_score_is_the_mean_entropy_over_lesion_voxels():
    entropy = np.array([[0.1, 0.2], [0.3, 0.9]])
    segmentation = np.array([[0, 1], [2, 3]])  # 1 lung, 2 and 3 lesions
    assert lesion_uncertainty(entropy, segmentation, (2, 3)) == {"mean_entropy_in_lesions": pytest.approx(0.6),
                                                                  "lesion_voxels": 2}
    assert lesion_uncertainty(entropy, np.zeros((2, 2)), (2, 3)) == {"mean_entropy_in_lesions": None,
                                                                      "lesion_voxels": 0}
