import numpy as np
import pytest
from scipy.spatial.distance import cdist

from covplan.evaluation.boundary import boundary_metrics, surface_distances


def _cube(shape, corner, size):
    mask = np.zeros(shape, bool)
    mask[tuple(slice(c, c + size) for c in corner)] = True
    return mask


def test_two_small_cubes_at_a_known_distance_along_an_anisotropic_axis():
    # 2x2x2 cubes are all surface. Along x the prediction's two planes lie 9 and 10 voxels
    # from the reference's nearest plane (x = 1); at 0.5 mm per x voxel that is 4.5 and 5 mm,
    # four voxels each, so the 95th percentile of both directions is 5 mm.
    reference = _cube((4, 4, 16), (1, 1, 0), 2)
    prediction = _cube((4, 4, 16), (1, 1, 10), 2)
    metrics = boundary_metrics(reference, prediction, (3.0, 2.0, 0.5), tolerance_mm=4.5)
    assert metrics["HD95"] == pytest.approx(5.0)
    # Half of each surface (the near plane) lies within 4.5 mm of the other.
    assert metrics["NSD"] == pytest.approx(0.5)
    assert boundary_metrics(reference, prediction, (3.0, 2.0, 0.5), tolerance_mm=4.4)["NSD"] == 0.0


def test_diagonal_distance_uses_every_axis_spacing():
    reference = np.zeros((3, 3, 3), bool)
    prediction = np.zeros((3, 3, 3), bool)
    reference[0, 0, 0] = True
    prediction[1, 1, 0] = True
    metrics = boundary_metrics(reference, prediction, (2.0, 0.5, 7.0))
    assert metrics["HD95"] == pytest.approx(np.hypot(2.0, 0.5))


def test_identical_masks_have_zero_distance_and_full_surface_dice():
    reference = _cube((10, 10, 10), (2, 2, 2), 5)
    metrics = boundary_metrics(reference, reference.copy(), (1.0, 1.0, 1.0))
    assert metrics == {"HD95": 0.0, "NSD": 1.0}


def test_distances_equal_a_brute_force_search_between_surface_voxels():
    rng = np.random.default_rng(0)
    reference = _cube((12, 14, 16), (2, 3, 4), 6)
    prediction = _cube((12, 14, 16), (4, 2, 5), 5)
    prediction[rng.random(prediction.shape) > 0.97] = True
    spacing = (2.5, 0.7, 0.7)
    prediction_to_reference, reference_to_prediction = surface_distances(reference, prediction, spacing)

    def surface_points(mask):
        inner = np.zeros_like(mask)
        inner[1:-1, 1:-1, 1:-1] = (mask[1:-1, 1:-1, 1:-1] & mask[:-2, 1:-1, 1:-1] & mask[2:, 1:-1, 1:-1]
                                   & mask[1:-1, :-2, 1:-1] & mask[1:-1, 2:, 1:-1]
                                   & mask[1:-1, 1:-1, :-2] & mask[1:-1, 1:-1, 2:])
        return np.argwhere(mask & ~inner) * np.array(spacing)

    pairwise = cdist(surface_points(prediction), surface_points(reference))
    assert np.sort(prediction_to_reference) == pytest.approx(np.sort(pairwise.min(axis=1)))
    assert np.sort(reference_to_prediction) == pytest.approx(np.sort(pairwise.min(axis=0)))
    expected_hd95 = max(np.percentile(pairwise.min(axis=1), 95), np.percentile(pairwise.min(axis=0), 95))
    assert boundary_metrics(reference, prediction, spacing)["HD95"] == pytest.approx(expected_hd95)


def test_objects_on_the_image_edge_keep_their_edge_surface():
    reference = np.ones((3, 3, 3), bool)
    prediction = np.zeros((3, 3, 3), bool)
    prediction[:2] = True
    # The reference's far plane (z = 2) is 1 voxel from the prediction's edge plane z = 1.
    assert boundary_metrics(reference, prediction, (1.0, 1.0, 1.0))["HD95"] == pytest.approx(1.0)


def test_empty_masks_are_undefined_together_and_worst_case_alone():
    empty = np.zeros((4, 5, 6), bool)
    cube = _cube((4, 5, 6), (1, 1, 1), 2)
    assert boundary_metrics(empty, empty, (1, 1, 1)) == {"HD95": None, "NSD": None}
    missed = boundary_metrics(cube, empty, (2.0, 1.0, 1.0))
    assert missed["NSD"] == 0.0
    assert missed["HD95"] == pytest.approx(np.sqrt(8 ** 2 + 5 ** 2 + 6 ** 2))
    assert boundary_metrics(empty, cube, (2.0, 1.0, 1.0)) == missed


def test_two_dimensional_masks_use_two_spacings():
    reference = np.zeros((5, 5), bool)
    prediction = np.zeros((5, 5), bool)
    reference[0, 0] = True
    prediction[0, 3] = True
    assert boundary_metrics(reference, prediction, (1.0, 0.8))["HD95"] == pytest.approx(2.4)


def test_a_distance_of_exactly_the_tolerance_counts_as_within_despite_rounding():
    reference = np.zeros((1, 4), bool)
    prediction = np.zeros((1, 4), bool)
    reference[0, 0] = True
    prediction[0, 2] = True
    # 2 x 0.8 mm computes as 1.6000000000000014 mm.
    assert boundary_metrics(reference, prediction, (0.8, 0.8), tolerance_mm=1.6)["NSD"] == 1.0
    assert boundary_metrics(reference, prediction, (0.8, 0.8), tolerance_mm=1.59)["NSD"] == 0.0
