from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.conversion.images import (check_label_values, detect_intensity_domain, hu_to_grey8, mask_on_image_grid,
                                       padding_to_air, read_image)
from covplan.errors import CovplanError

IMAGE, MASK = Path("image.nii.gz"), Path("mask.nii.gz")


def grid(size=(8, 6, 4), spacing=(0.7, 0.7, 2.5), origin=(-10.0, 5.0, 3.0)) -> sitk.Image:
    image = sitk.Image(size, sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_hu_window_maps_to_grey_as_published():
    np.testing.assert_array_equal(hu_to_grey8(np.array([-3000, -1250, -500, 250, 2000])), [0, 0, 128, 255, 255])


def test_domain_is_read_from_the_values():
    assert detect_intensity_domain(np.array([0, 17, 255]), IMAGE) == "grey8"
    assert detect_intensity_domain(np.array([-1024, 40, 1200]), IMAGE) == "hu"
    with pytest.raises(CovplanError, match=r"image.nii.gz: intensities -100..900 are neither"):
        detect_intensity_domain(np.array([-100, 900]), IMAGE)


def test_padding_becomes_air():
    np.testing.assert_array_equal(padding_to_air(np.array([-3024, -2000, -1024, -900, 60])),
                                  [-1024, -1024, -1024, -900, 60])


def test_mask_within_tolerance_gets_the_image_header_exactly():
    mask = grid(origin=(-10.004, 5.0, 3.0), spacing=(0.70001, 0.7, 2.5))
    on_grid = mask_on_image_grid(mask, grid(), MASK, IMAGE)
    assert on_grid.GetOrigin() == (-10.0, 5.0, 3.0) and on_grid.GetSpacing() == (0.7, 0.7, 2.5)


@pytest.mark.parametrize(("mask", "message"), [
    (grid(size=(8, 6, 5)), r"mask.nii.gz: mask size \(8, 6, 5\) differs from image size \(8, 6, 4\) of image.nii.gz"),
    (grid(spacing=(0.8, 0.7, 2.5)), r"mask geometry differs from image.nii.gz \(spacing \(0.8, 0.7, 2.5\) vs"),
    (grid(origin=(0.0, 5.0, 3.0)), r"\(origin \(0, 5, 3\) vs \(-10, 5, 3\)\)"),
])
def test_mask_off_the_image_grid_is_refused(mask, message):
    with pytest.raises(CovplanError, match=message):
        mask_on_image_grid(mask, grid(), MASK, IMAGE)


def test_label_values_outside_the_scheme_are_named():
    check_label_values(np.array([0, 1, 2]), [0, 1, 2, 3], MASK)
    with pytest.raises(CovplanError, match=r"label values \[4, 7\] are outside the label scheme \[0, 1, 2\]"):
        check_label_values(np.array([0, 4, 7, 1]), [0, 1, 2], MASK)


def test_missing_and_non_image_files_are_named(tmp_path):
    with pytest.raises(CovplanError, match=f"{tmp_path / 'gone.nii.gz'}: file missing"):
        read_image(tmp_path / "gone.nii.gz")
    (tmp_path / "notes.mha").write_text("not an image")
    with pytest.raises(CovplanError, match=f"{tmp_path / 'notes.mha'}: cannot be read"):
        read_image(tmp_path / "notes.mha")


def write_hu_with_nan(path: Path) -> Path:
    array = np.full((3, 4, 5), -1000.0, np.float32)
    array[1, 2, 3] = array[2, 0, 0] = np.nan
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.7, 2.5))
    sitk.WriteImage(image, str(path))
    return path


def test_nan_voxels_are_refused_with_their_count(tmp_path):
    path = write_hu_with_nan(tmp_path / "nan.nii.gz")
    with pytest.raises(CovplanError, match=rf"{path}: 2 voxel\(s\) are NaN .*--nan-value V") as error:
        read_image(path)
    assert "\n" not in str(error.value)


def test_nan_voxels_are_replaced_where_they_are_when_asked(tmp_path):
    image = read_image(write_hu_with_nan(tmp_path / "nan.nii.gz"), nan_value=-1024.0)
    array = sitk.GetArrayFromImage(image)
    assert array[1, 2, 3] == array[2, 0, 0] == -1024.0
    assert (array == -1024.0).sum() == 2 and (array == -1000.0).sum() == array.size - 2
    assert image.GetSpacing() == pytest.approx((0.7, 0.7, 2.5))


def test_a_4d_image_is_refused_as_4d(tmp_path):
    path = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.Image([4, 4, 3, 2], sitk.sitkInt16), str(path))
    with pytest.raises(CovplanError, match=rf"{path}: a 4D image with 1 component\(s\) per voxel"):
        read_image(path)
