"""Choosing and reading DICOM series (covplan/conversion/dicom_series.py) through predict's
input stage: the rule, the skipped series, geometry from positions, rescale and padding,
zip input, and the refusals."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from covplan.conversion.dicom_series import unzipped
from covplan.errors import CovplanError
from covplan.inference.inputs import find_cases, read_case
from tests.dicom_files import SECONDARY_CAPTURE, write_ct_series

MODEL = Path("model")  # named in messages only
SPACING = (0.8, 0.7, 2.5)


def volume(slices: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1000, 400, (slices, 5, 7)).astype(np.int16)


@pytest.fixture
def mixed_folder(tmp_path) -> tuple[Path, np.ndarray, dict[str, str]]:
    """One folder: a 6-slice CT (the one to choose), a 4-slice CT, a coronal CT, a
    localizer, a secondary capture and a non-CT series."""
    folder = tmp_path / "study"
    hu = volume()
    uids = {"main": write_ct_series(folder, hu, SPACING, name="main"),
            "short": write_ct_series(folder, volume(4, 1), SPACING, name="short"),
            "coronal": write_ct_series(folder, volume(5, 2), SPACING, name="coronal",
                                       ImageOrientationPatient=[1.0, 0.0, 0.0, 0.0, 0.0, -1.0]),
            "localizer": write_ct_series(folder, volume(2, 3), SPACING, name="scout",
                                         ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
            "capture": write_ct_series(folder, volume(3, 4), SPACING, name="capture", SOPClassUID=SECONDARY_CAPTURE),
            "pet": write_ct_series(folder, volume(7, 5), SPACING, name="pet", Modality="PT")}
    return folder, hu, uids


def test_the_axial_ct_with_most_slices_is_chosen_and_the_others_are_logged(mixed_folder, caplog):
    folder, hu, uids = mixed_folder
    with caplog.at_level(logging.INFO, logger="covplan.conversion.dicom_series"):
        (case,) = find_cases(folder)
    assert (case.case_id, case.kind, len(case.files)) == ("study", "dicom_series", 6)
    assert all(path.name.startswith("main") for path in case.files)
    reasons = {uid: record.getMessage() for record in caplog.records for uid in uids.values()
               if f"skipped {uid}" in record.getMessage()}
    assert set(reasons) == set(uids.values()) - {uids["main"]}
    assert "fewer than the chosen series" in reasons[uids["short"]]
    assert "not axial" in reasons[uids["coronal"]]
    assert "localizer" in reasons[uids["localizer"]]
    assert "secondary capture" in reasons[uids["capture"]]
    assert "modality PT, not CT" in reasons[uids["pet"]]


def test_the_volume_is_sorted_by_position_with_spacing_from_positions(mixed_folder):
    folder, hu, _ = mixed_folder
    image = read_case(find_cases(folder)[0], None, MODEL)
    # The files are named in reverse slice order and SliceThickness says 9 mm.
    np.testing.assert_array_equal(image.data[0], hu)
    assert image.properties["sitk_stuff"]["spacing"] == pytest.approx(SPACING)
    assert image.properties["sitk_stuff"]["origin"] == pytest.approx((-100.0, -80.0, -300.0))


def test_series_chooses_another_series_and_unknown_uids_are_refused(mixed_folder):
    folder, _, uids = mixed_folder
    (case,) = find_cases(folder, uids["short"])
    assert len(case.files) == 4 and case.files[0].name.startswith("short")
    with pytest.raises(CovplanError, match=r"no DICOM series 1\.2\.3\.4; found .* and 1 more \(give one of them, "
                                           r"or leave out --series\)$") as error:
        find_cases(folder, "1.2.3.4")
    assert sum(uid in str(error.value) for uid in uids.values()) == 5  # of 6
    with pytest.raises(CovplanError, match=rf"series {uids['localizer']} is a localizer \(ImageType LOCALIZER\); "
                                           rf"choose a CT series with --series$"):
        find_cases(folder, uids["localizer"])


def test_a_folder_without_a_ct_series_is_refused_naming_what_it_holds(tmp_path):
    scout = write_ct_series(tmp_path, volume(2), SPACING, name="scout", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    pet = write_ct_series(tmp_path, volume(3), SPACING, name="pet", Modality="PT")
    with pytest.raises(CovplanError, match=r"no axial CT series to segment among 2 DICOM series \(.*\); give a "
                                           r"folder holding one$") as error:
        find_cases(tmp_path)
    assert f"{scout}: a localizer (ImageType LOCALIZER)" in str(error.value)
    assert f"{pet}: modality PT, not CT" in str(error.value)


def test_rescale_slope_intercept_and_padding_become_hu_and_air(tmp_path):
    hu = np.full((3, 4, 5), -500, np.int16)
    hu[:, 1, 1] = 40
    write_ct_series(tmp_path, (hu + 1024) // 2 - 1024, SPACING, RescaleSlope=2.0)  # stored (HU + 1024) / 2
    (case,) = find_cases(tmp_path)
    for path in case.files:  # a padding value inside the HU range: only the tag tells it apart
        dataset = pydicom.dcmread(path)
        stored = dataset.pixel_array.copy()
        stored[0, 0] = 600
        dataset.add_new("PixelPaddingValue", "SS", 600)
        dataset.PixelData = stored.tobytes()
        dataset.save_as(path)
    data = read_case(case, "hu", MODEL).data[0]
    assert data[:, 0, 0].tolist() == [-1024] * 3  # padding: air
    assert data[:, 1, 1].tolist() == [40] * 3  # stored * slope + intercept
    assert data[:, 2, 2].tolist() == [-500] * 3


@pytest.mark.parametrize("z_positions, message", [
    ([0.0, 2.5, 5.0, 10.0, 12.5], r"misses 1 slice\(s\) between -295\.00 and -290\.00 mm \(gap 5\.00 mm, spacing "
                                  r"2\.50 mm\)"),
    ([0.0, 2.5, 5.0, 6.5, 9.0], r"has unevenly spaced slices \(gaps from 1\.50 to 2\.50 mm"),
    ([0.0, 2.5, 2.5, 5.0, 7.5], r"has two slices at position -297\.50 mm"),
])
def test_missing_uneven_and_doubled_slices_are_refused_in_one_line(tmp_path, z_positions, message):
    uid = write_ct_series(tmp_path, volume(5), SPACING, z_positions=[-300.0 + z for z in z_positions])
    (case,) = find_cases(tmp_path)
    with pytest.raises(CovplanError, match=rf"{tmp_path}: series {uid} {message}.*; export the complete series "
                                           r"again, or choose another with --series UID$"):
        read_case(case, "hu", MODEL)


def test_a_zip_of_a_study_is_read_like_its_folder(mixed_folder, tmp_path):
    folder, hu, _ = mixed_folder
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        for path in folder.iterdir():
            stream.write(path, f"DICOM/{path.name}")
    with unzipped(archive) as unpacked:
        (case,) = find_cases(unpacked)
        assert case.case_id == "DICOM"
        np.testing.assert_array_equal(read_case(case, None, MODEL).data[0], hu)
    assert not unpacked.exists()


def test_a_slice_without_its_position_is_refused_naming_it(tmp_path):
    uid = write_ct_series(tmp_path, volume(4), SPACING)
    dataset = pydicom.dcmread(tmp_path / "ct_003.dcm")
    del dataset.ImagePositionPatient
    dataset.save_as(tmp_path / "ct_003.dcm")
    (case,) = find_cases(tmp_path)
    with pytest.raises(CovplanError, match=rf"series {uid} has a slice without ImagePositionPatient \(ct_003.dcm\)"):
        read_case(case, "hu", MODEL)



@pytest.mark.parametrize("numbers, chosen, tie_break", [
    ((3, 2), 1, "for its lower SeriesNumber"),
    ((2, 2), 0, "because its SeriesInstanceUID sorts first (the same SeriesNumber)")])
def test_of_two_equal_ct_series_the_warning_says_which_was_chosen_and_why(tmp_path, caplog, numbers, chosen,
                                                                         tie_break):
    uids = sorted(pydicom.uid.generate_uid() for _ in range(2))
    for uid, number, name in zip(uids, numbers, ("first", "second")):
        write_ct_series(tmp_path / "study", volume(), SPACING, series_uid=uid, name=name, SeriesNumber=number)
    with caplog.at_level(logging.WARNING, logger="covplan.conversion.dicom_series"):
        (case,) = find_cases(tmp_path / "study")
    assert case.files[0].name.startswith(("first", "second")[chosen])
    other = 1 - chosen
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.endswith(f"skipped {uids[other]} (series {numbers[other]}, 6 file(s)): as many slices (6) as "
                            f"series {numbers[chosen]} ({uids[chosen]}), chosen {tie_break}; --series {uids[other]} "
                            f"segments this one instead")
