import numpy as np

from covplan.demo_data.phantom import (CONSOLIDATION, FIBROSIS, GGO, HU, LEFT_LUNG, RIGHT_LUNG, chest_phantom)


def make(seed=3, shape=(12, 40, 40), lesion_types=(GGO, CONSOLIDATION, FIBROSIS)):
    return chest_phantom(shape, np.random.default_rng(seed), lesion_types, num_lesions=3)


def test_tissues_have_realistic_hu_and_lesions_lie_in_the_lungs():
    phantom = make()
    healthy_lung = (phantom.lungs > 0) & (phantom.lesions == 0)
    assert -950 < np.median(phantom.hu[healthy_lung]) < -750
    assert phantom.hu[0, 0, 0] < -900  # air outside the body
    assert phantom.hu.max() > 500  # spine
    assert set(np.unique(phantom.lesions)) == {0, GGO, CONSOLIDATION, FIBROSIS}
    assert np.all(phantom.lungs[phantom.lesions > 0] > 0)
    assert np.median(phantom.hu[phantom.lesions == CONSOLIDATION]) > np.median(phantom.hu[phantom.lesions == GGO])
    assert abs(np.median(phantom.hu[phantom.lesions == CONSOLIDATION]) - HU[CONSOLIDATION]) < 150


def test_left_lung_lies_at_patient_left_which_is_plus_x():
    phantom = make()
    columns = np.arange(phantom.lungs.shape[2])
    assert columns[np.nonzero(phantom.lungs == LEFT_LUNG)[2]].mean() > phantom.lungs.shape[2] / 2
    assert columns[np.nonzero(phantom.lungs == RIGHT_LUNG)[2]].mean() < phantom.lungs.shape[2] / 2


def test_same_seed_same_phantom_and_slices_have_in_plane_spacing():
    np.testing.assert_array_equal(make(seed=5).hu, make(seed=5).hu)
    assert not np.array_equal(make(seed=5).hu, make(seed=6).hu)
    flat = make(shape=(1, 64, 64), lesion_types=())
    assert flat.hu.shape == (1, 64, 64) and not flat.lesions.any()
    assert flat.spacing[:2] == (360 / 64, 360 / 64)
