"""Boundary and lesion metrics and post-processing on the doctors' masks of real COVID-19
slices (MedSeg, via Inf-Net), checked against scipy's independent component labelling."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from covplan.evaluation import MetricOptions, class_metrics
from covplan.postprocessing import remove_small_components
from tests.paths import SHARED_DATA

SEMISEG = SHARED_DATA / "covid_semiseg_train"
SLICES = ("1", "2", "3", "4", "5")
GGO = (128, 0, 0)  # VOC palette colour of ground-glass opacity in the source masks

pytestmark = pytest.mark.skipif(not SEMISEG.is_dir(), reason=f"real slice data not found at {SEMISEG}")


def _ggo(name: str) -> np.ndarray:
    rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(SEMISEG / "GT" / f"{name}.png")))[..., :3]
    return np.all(rgb == GGO, axis=-1)


@pytest.mark.parametrize("name", SLICES)
def test_lesion_counts_match_scipy_and_a_two_pixel_shift_stays_within_two_pixels(name):
    reference = _ggo(name)
    expected_count = ndimage.label(reference, structure=np.ones((3, 3)))[1]
    shifted = np.zeros_like(reference)
    shifted[:, 2:] = reference[:, :-2]
    spacing = (0.8, 0.8)
    metrics = class_metrics(reference[None], shifted[None], (999.0, *spacing))
    assert metrics["LesionsRef"] == expected_count
    assert 0 < metrics["HD95"] <= 2 * 0.8 + 1e-9
    assert class_metrics(reference, shifted, spacing)["HD95"] == metrics["HD95"]
    loose = class_metrics(reference, shifted, spacing, options=MetricOptions(surface_tolerance_mm=1.6, lesions=False))
    strict = class_metrics(reference, shifted, spacing, options=MetricOptions(surface_tolerance_mm=0.0, lesions=False))
    assert loose["NSD"] == 1.0 and strict["NSD"] < 1.0


@pytest.mark.parametrize("name", SLICES)
def test_small_component_removal_keeps_exactly_the_large_lesions(name):
    reference = _ggo(name)
    components, count = ndimage.label(reference, structure=np.ones((3, 3)))
    sizes = np.bincount(components.ravel())[1:]
    cleaned = remove_small_components(reference.astype(np.uint8), (1.0, 1.0), label=1, min_size_mm2=50)
    assert np.count_nonzero(cleaned == 1) == sizes[sizes >= 50].sum()

