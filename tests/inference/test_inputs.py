"""Finding and reading the cases covplan predict takes, in the model's intensity domain."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from covplan.errors import CovplanError
from covplan.inference.inputs import find_cases, read_case
from tests.input_images import write_dicom_series
from tests.paths import SHARED_DATA

MODEL = Path("model")  # named in messages only


def write_nifti(array: np.ndarray, path: Path, spacing=(1.0, 1.0, 1.0)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[:image.GetDimension()])
    sitk.WriteImage(image, str(path))
    return path


def test_channels_named_as_nnunet_form_one_case(tmp_path):
    for name in ("a_0000.nii.gz", "a_0001.nii.gz", "b_0000.nii.gz"):
        write_nifti(np.zeros((2, 3, 4), np.float32), tmp_path / name)
    cases = find_cases(tmp_path)
    assert [(case.case_id, [path.name for path in case.files]) for case in cases] == [
        ("a", ["a_0000.nii.gz", "a_0001.nii.gz"]), ("b", ["b_0000.nii.gz"])]


def test_other_names_are_one_case_each_and_subfolders_prefix_them(tmp_path):
    write_nifti(np.zeros((2, 3, 4), np.float32), tmp_path / "scan.nii.gz")
    (tmp_path / "patient7").mkdir()
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "patient7" / "slice1.png")
    assert [(case.case_id, case.kind) for case in find_cases(tmp_path)] == [("scan", "nifti"),
                                                                             ("patient7_slice1", "slice")]


def test_a_dicom_series_is_one_volume_with_padding_as_air(tmp_path):
    volume = np.full((3, 4, 5), -500, np.int16)
    volume[:, 0, 0] = -3024  # padding outside the scan circle
    write_dicom_series(volume, tmp_path / "series")
    (case,) = find_cases(tmp_path)
    assert (case.case_id, case.kind, len(case.files)) == ("series", "dicom_series", 3)
    image = read_case(case, "hu", MODEL)
    assert image.data.shape == (1, 3, 4, 5) and not image.is_slice
    assert image.data[0, :, 0, 0].tolist() == [-1024] * 3
    assert image.properties["sitk_stuff"]["spacing"] == pytest.approx((0.7, 0.7, 2.5))
    assert image.properties["spacing"] == pytest.approx([2.5, 0.7, 0.7])


def test_hu_becomes_grey_for_a_grey_model_as_the_converters_map_it(tmp_path):
    path = write_nifti(np.array([[[-1250.0, -500.0, 250.0, 1000.0]]], np.float32), tmp_path / "ct.nii.gz")
    image = read_case(find_cases(path)[0], "grey8", MODEL)
    assert image.data.ravel().tolist() == [0.0, 128.0, 255.0, 255.0]
    assert read_case(find_cases(path)[0], "hu", MODEL).data.ravel().tolist() == [-1250.0, -500.0, 250.0, 1000.0]


def test_a_grey_image_is_refused_by_an_hu_model(tmp_path):
    path = tmp_path / "slice.png"
    Image.fromarray(np.full((5, 6), 100, np.uint8)).save(path)
    with pytest.raises(CovplanError, match=r"slice.png: the image is 8-bit grey but the model model was trained "
                                           r"on CT in HU"):
        read_case(find_cases(path)[0], "hu", MODEL)


def test_a_png_slice_is_2d_grey_with_unit_spacing(tmp_path):
    path = tmp_path / "slice.png"
    Image.fromarray(np.arange(30, dtype=np.uint8).reshape(5, 6)).save(path)
    image = read_case(find_cases(path)[0], "grey8", MODEL)
    assert image.is_slice and image.data.shape == (1, 1, 5, 6)
    assert image.data[0, 0, 1, 0] == 6
    assert image.properties["sitk_stuff"]["spacing"] == (1.0, 1.0)


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a picture")
    with pytest.raises(CovplanError, match="broken.png: cannot be read") as error:
        read_case(find_cases(path)[0], "grey8", MODEL)
    assert "--skip-bad" not in str(error.value) and "\n" not in str(error.value)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(CovplanError, match="no images found"):
        find_cases(tmp_path)


@pytest.mark.skipif(not (SHARED_DATA / "covid_ny_sbu_axial").is_dir(), reason="../shared/data/covid_ny_sbu_axial absent")
def test_real_dicom_slices_are_hu_with_their_header_spacing():
    cases = find_cases(SHARED_DATA / "covid_ny_sbu_axial")
    assert len(cases) == 20 and {case.kind for case in cases} == {"slice"}
    image = read_case(cases[0], "hu", MODEL)
    assert image.is_slice and image.data.shape == (1, 1, 512, 512)
    assert image.data.min() == -1024  # the -3024 padding became air
    assert 0.6 < image.properties["sitk_stuff"]["spacing"][0] < 1.0


@pytest.mark.skipif(not (SHARED_DATA / "lidc_idri_0001").is_dir(), reason="../shared/data/lidc_idri_0001 absent")
def test_the_real_lidc_volume_is_windowed_for_a_grey_model():
    (case,) = find_cases(SHARED_DATA / "lidc_idri_0001")  # its ATTRIBUTION file is no image
    image = read_case(case, "grey8", MODEL)
    assert image.data.shape == (1, 133, 512, 512) and not image.is_slice
    assert image.data.min() >= 0 and image.data.max() == 255
    assert image.properties["spacing"] == pytest.approx([2.5, 0.703125, 0.703125])


def test_nan_voxels_are_refused_at_predict(tmp_path):
    array = np.full((3, 4, 5), -1000.0, np.float32)
    array[0, 1, 1] = np.nan
    path = write_nifti(array, tmp_path / "scan_0000.nii.gz")
    with pytest.raises(CovplanError, match=rf"{path}: 1 voxel\(s\) are NaN \(not a number\); replace them in the "
                                           rf"image$"):
        read_case(find_cases(path)[0], "hu", MODEL)


@pytest.mark.parametrize("voxel_size", [0.0, -2.0])
def test_a_voxel_size_of_zero_or_below_is_refused_naming_the_file(tmp_path, capfd, voxel_size):
    path = write_nifti(np.full((3, 4, 5), -1000.0, np.float32), tmp_path / "scan.nii", spacing=(1.0, 1.0, 3.0))
    header = bytearray(path.read_bytes())
    header[88:92] = struct.pack("<f", voxel_size)  # pixdim[3]: the NIfTI-1 header's float32 array at byte 76
    path.write_bytes(bytes(header))
    with pytest.raises(CovplanError, match=rf"^{path}: its header gives voxel sizes \[1.0, 1.0, {voxel_size}\] mm "
                                           rf"\(pixdim\), and each must be above 0; write the image again with its "
                                           rf"true spacing$"):
        read_case(find_cases(path)[0], "hu", MODEL)
    assert "WARNING" not in capfd.readouterr().err
