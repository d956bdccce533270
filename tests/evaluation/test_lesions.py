import numpy as np
import pytest

from covplan.evaluation.lesions import lesion_metrics


def _blobs(shape, corners, size=2):
    mask = np.zeros(shape, bool)
    for corner in corners:
        mask[tuple(slice(c, c + size) for c in corner)] = True
    return mask


def test_counts_detection_and_f1_of_known_blobs():
    # Reference: 4 blobs. Prediction: 2 of them exactly, half of a third, and 3 specks elsewhere.
    reference = _blobs((10, 20, 20), [(1, 1, 1), (1, 1, 10), (1, 10, 1), (6, 10, 10)])
    prediction = _blobs((10, 20, 20), [(1, 1, 1), (1, 1, 10)])
    prediction[6, 10:12, 10:12] = True
    prediction[[0, 9, 9], [18, 18, 5], [18, 5, 18]] = True
    metrics = lesion_metrics(reference, prediction, (1.0, 1.0, 1.0))
    assert (metrics["LesionsRef"], metrics["LesionsPred"], metrics["LesionsDetected"]) == (4, 6, 3)
    assert metrics["LesionSensitivity"] == pytest.approx(3 / 4)
    assert metrics["LesionPrecision"] == pytest.approx(3 / 6)
    assert metrics["LesionF1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    # 32 reference voxels, 16 + 4 + 3 = 23 predicted.
    assert metrics["AbsoluteVolumeError"] == pytest.approx(9.0)
    assert metrics["RelativeVolumeError"] == pytest.approx(9 / 32)


def test_min_overlap_decides_whether_a_partly_covered_lesion_is_found():
    reference = _blobs((4, 4, 8), [(0, 0, 0)], size=4)
    prediction = np.zeros_like(reference)
    prediction[0, 0, :4] = True  # 4 of 64 voxels: 6.25 % of the lesion
    assert lesion_metrics(reference, prediction, (1, 1, 1))["LesionsDetected"] == 1
    assert lesion_metrics(reference, prediction, (1, 1, 1), min_overlap=0.1)["LesionsDetected"] == 0
    assert lesion_metrics(reference, prediction, (1, 1, 1), min_overlap=0.05)["LesionsDetected"] == 1


def test_diagonal_neighbours_form_one_lesion_and_volumes_use_the_spacing():
    reference = np.zeros((3, 3, 3), bool)
    reference[0, 0, 0] = reference[1, 1, 1] = reference[2, 2, 2] = True
    metrics = lesion_metrics(reference, np.zeros_like(reference), (2.0, 0.5, 0.5))
    assert metrics["LesionsRef"] == 1
    assert metrics["AbsoluteVolumeError"] == pytest.approx(3 * 0.5)
    assert metrics["RelativeVolumeError"] == pytest.approx(1.0)


def test_empty_sides_give_zero_f1_or_undefined_values():
    blob = _blobs((4, 4, 4), [(1, 1, 1)])
    empty = np.zeros_like(blob)
    missed = lesion_metrics(blob, empty, (1, 1, 1))
    assert (missed["LesionSensitivity"], missed["LesionPrecision"], missed["LesionF1"]) == (0.0, None, 0.0)
    invented = lesion_metrics(empty, blob, (1, 1, 1))
    assert (invented["LesionSensitivity"], invented["LesionPrecision"], invented["LesionF1"]) == (None, 0.0, 0.0)
    assert invented["RelativeVolumeError"] is None and invented["AbsoluteVolumeError"] == 8.0
    nothing = lesion_metrics(empty, empty, (1, 1, 1))
    assert nothing["LesionF1"] is None and nothing["LesionsRef"] == 0


def test_two_dimensional_blobs_use_eight_neighbours_and_areas():
    reference = np.zeros((6, 6), bool)
    reference[0, 0] = reference[1, 1] = reference[4, 4] = True
    metrics = lesion_metrics(reference, reference.copy(), (0.5, 0.5))
    assert metrics["LesionsRef"] == 2 and metrics["LesionF1"] == 1.0
    assert metrics["AbsoluteVolumeError"] == 0.0
