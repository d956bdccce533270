"""The lung mask derived from the image (covplan.labels.lung_mask) against known lungs:
synthetic chest CT in HU and windowed to 8-bit, and the real LIDC-IDRI CT."""

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.conversion.images import hu_to_grey8
from covplan.demo_data.phantom import chest_phantom
from covplan.labels.lung_mask import LUNG_MAX_HU, derive_lung_mask, otsu_threshold
from tests.paths import SHARED_DATA

LIDC = SHARED_DATA / "lidc_idri_0001" / "LIDC-IDRI-0001.nii.gz"


def _dice(first: np.ndarray, second: np.ndarray) -> float:
    return 2 * np.count_nonzero(first & second) / (np.count_nonzero(first) + np.count_nonzero(second))


@pytest.mark.parametrize("windowed", [False, True])
def test_the_lungs_of_a_chest_phantom_are_found(windowed):
    phantom = chest_phantom((24, 96, 96), np.random.default_rng(3))
    image = hu_to_grey8(phantom.hu) if windowed else phantom.hu
    assert _dice(derive_lung_mask(image), phantom.lungs > 0) > 0.9


def test_a_single_windowed_slice_gets_both_lungs_and_not_the_outside_air():
    phantom = chest_phantom((1, 128, 128), np.random.default_rng(5))
    derived = derive_lung_mask(hu_to_grey8(phantom.hu))
    assert _dice(derived, phantom.lungs > 0) > 0.9
    assert not derived[0, 0].any() and not derived[0, :, 0].any()


def test_otsu_splits_two_populations_between_them():
    values = np.concatenate([np.full(100, 20.0), np.full(300, 200.0)])
    assert 20 < otsu_threshold(values) < 200


@pytest.mark.slow
@pytest.mark.skipif(not LIDC.is_file(), reason=f"real CT not found at {LIDC}")
def test_the_real_lidc_lungs_agree_with_a_plain_threshold_and_have_a_plausible_volume():
    image = sitk.ReadImage(str(LIDC))
    hu = sitk.GetArrayFromImage(image)
    derived = derive_lung_mask(hu)
    litres = np.count_nonzero(derived) * np.prod(image.GetSpacing()) / 1e6
    assert 2.5 < litres < 8.0  # an adult's two lungs
    # The reference: air-like voxels inside the body found in 3D with SimpleITK (body =
    # largest component above the threshold, holes filled), not by the method under test.
    body = sitk.ConnectedComponent(sitk.BinaryThreshold(image, LUNG_MAX_HU, 4000))
    body = sitk.RelabelComponent(body) == 1
    body = sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(body, [5, 5, 1]))
    reference = sitk.GetArrayFromImage(body).astype(bool) & (hu < LUNG_MAX_HU)
    assert _dice(derived, reference) > 0.9
