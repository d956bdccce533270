import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.postprocessing import (apply_postprocessing, fill_holes, keep_largest, remove_small_components,
                                    restrict_to_lung)


def _lung_with_specks() -> np.ndarray:
    """Lung (1) filling y, x = 2..9 on 6 slices, a 2x2x2 lesion (2) inside it, a 1-voxel
    lesion speck inside it and a 1-voxel lesion speck in the air at the corner."""
    segmentation = np.zeros((6, 12, 12), np.uint8)
    segmentation[:, 2:10, 2:10] = 1
    segmentation[2:4, 4:6, 4:6] = 2
    segmentation[3, 7, 7] = 2
    segmentation[0, 0, 11] = 2
    return segmentation


def test_small_components_are_removed_by_physical_size_and_take_the_surrounding_label():
    segmentation = _lung_with_specks()
    # 1 voxel = 2 mm³, the lesion 8 voxels = 16 mm³.
    cleaned = remove_small_components(segmentation, (2.0, 1.0, 1.0), label=2, min_size_mm3=5)
    assert cleaned[3, 7, 7] == 1  # inside the lung: becomes lung
    assert cleaned[0, 0, 11] == 0  # in the air: becomes background
    assert np.count_nonzero(cleaned == 2) == 8
    assert np.count_nonzero(remove_small_components(segmentation, (2.0, 1.0, 1.0), 2, min_size_mm3=17) == 2) == 0
    assert np.array_equal(segmentation, _lung_with_specks())  # the input is left alone


def test_restrict_to_lung_removes_only_lesions_that_do_not_touch_the_lung():
    segmentation = _lung_with_specks()
    restricted = restrict_to_lung(segmentation, (1, 1, 1), lesion_labels=[2], lung_labels=[1])
    assert restricted[0, 0, 11] == 0
    assert np.count_nonzero(restricted == 2) == 9
    without_lung = restrict_to_lung(np.where(segmentation == 1, 0, segmentation), (1, 1, 1), [2], [1])
    assert not without_lung.any()


def test_fill_holes_fills_enclosed_background_but_keeps_enclosed_lesions():
    segmentation = _lung_with_specks()
    segmentation[3, 5, 7] = 0
    segmentation[3, 9, 5] = 0  # on the lung's border: not enclosed
    filled = fill_holes(segmentation, (1, 1, 1), label=1)
    assert filled[3, 5, 7] == 1 and filled[3, 9, 5] == 0
    assert np.count_nonzero(filled == 2) == np.count_nonzero(segmentation == 2)


def test_keep_largest_drops_fragments():
    segmentation = _lung_with_specks()
    segmentation[0:2, 0, 0:2] = 1
    largest = keep_largest(segmentation, (1, 1, 1), label=1)
    assert not largest[0:2, 0, 0:2].any()
    assert np.count_nonzero(largest == 1) == np.count_nonzero(_lung_with_specks() == 1)


def test_apply_postprocessing_runs_rules_in_order_on_two_dimensional_slices():
    segmentation = _lung_with_specks()[3:4]  # one slice as (1, y, x), spacing 999 on the missing axis
    rules = [{"rule": "restrict_to_lung", "lesion_labels": [2], "lung_labels": [1]},
             {"rule": "remove_small_components", "label": 2, "min_size_mm2": 2.0}]
    result = apply_postprocessing(segmentation, rules, (999.0, 0.5, 0.5))
    assert result.shape == segmentation.shape and result.dtype == segmentation.dtype
    # The 4-pixel lesion is 1 mm² (< 2): removed, as is the speck; all lesion pixels become lung.
    assert np.count_nonzero(result == 2) == 0
    assert np.count_nonzero(result == 1) == np.count_nonzero(segmentation > 0)


def test_unknown_rules_and_wrong_arguments_are_refused():
    with pytest.raises(CovplanError, match="unknown post-processing rule 'smooth'; known rules: remove_small"):
        apply_postprocessing(np.zeros((2, 2, 2), np.uint8), [{"rule": "smooth"}], (1, 1, 1))
    with pytest.raises(CovplanError, match="keep_largest.*missing a required argument: 'label'"):
        apply_postprocessing(np.zeros((2, 2, 2), np.uint8), [{"rule": "keep_largest"}], (1, 1, 1))
