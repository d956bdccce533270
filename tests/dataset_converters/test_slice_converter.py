import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from covplan.conversion.images import HU_TO_GREY8, hu_to_grey8
from covplan.errors import CovplanError
from dataset_converters.slices import SlicesConverter
from tests.paths import SHARED_DATA

SEMISEG_REAL = SHARED_DATA / "covid_semiseg_train"
DICOM_REAL = SHARED_DATA / "covid_ny_sbu_axial"


def array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_slice_format_reads_every_image_and_mask_format(demo_source, tmp_path, nnunet_verify, unchanged):
    source = demo_source("slices")
    source_unchanged = unchanged(source)
    summary = SlicesConverter().convert(source, tmp_path / "out", workers=2)
    out = tmp_path / "out"

    assert len(summary.written) == 12 and summary.written[:2] == ["p001_001", "p001_002"]
    nnunet_verify(out)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "ggo": 1, "consolidation": 2, "fibrosis": 3}
    index_mask = np.asarray(Image.open(source / "p001" / "masks" / "001.png"))
    np.testing.assert_array_equal(array(out / "labelsTr" / "p001_001.nii.gz"), index_mask)
    palette_mask = np.asarray(Image.open(source / "p006" / "masks" / "001.png"))  # palette index = label
    np.testing.assert_array_equal(array(out / "labelsTr" / "p006_001.nii.gz"), palette_mask)
    binary = {t: np.asarray(Image.open(source / "p002" / "masks" / f"001_{t}.png")) > 0
              for t in ("ggo", "consolidation", "fibrosis")}
    expected = np.select([binary["fibrosis"], binary["consolidation"], binary["ggo"]], [3, 2, 1], 0)
    np.testing.assert_array_equal(array(out / "labelsTr" / "p002_001.nii.gz"), expected)
    assert not array(out / "labelsTr" / "p003_001.nii.gz").any()  # healthy: no mask, no lesion
    assert set(np.unique(np.concatenate([array(p).ravel() for p in (out / "labelsTr").iterdir()]))) == {0, 1, 2, 3}

    png = sitk.ReadImage(str(out / "imagesTr" / "p001_001_0000.nii.gz"))
    assert png.GetDimension() == 2 and png.GetSpacing() == (1.0, 1.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(png), np.asarray(Image.open(source / "p001/slices/001.png")))
    dicom_source = sitk.ReadImage(str(source / "p006" / "slices" / "001.dcm"))
    dicom = sitk.ReadImage(str(out / "imagesTr" / "p006_001_0000.nii.gz"))
    assert dicom.GetSpacing() == dicom_source.GetSpacing()[:2]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(dicom),
                                  hu_to_grey8(np.maximum(sitk.GetArrayFromImage(dicom_source)[0], -1024)))

    record = json.loads((out / "covplan_dataset.json").read_text())
    assert record["intensity_domain"] == "grey8"
    assert record["cases"]["p006_001"]["source_domain"] == "hu"
    assert record["cases"]["p006_001"]["intensity_transform"] == HU_TO_GREY8
    assert record["cases"]["p002_001"]["patient_id"] == "p002"
    assert record["patients"]["p002"] == {"diagnosis": "covid", "severity": "severe"}
    assert record["patients"]["p003"] == {"diagnosis": "healthy", "severity": ""}
    assert source_unchanged()


def dicom_only_copy(source: Path, target: Path, patients: list[str]) -> Path:
    target.mkdir()
    for patient in patients:
        shutil.copytree(source / patient, target / patient)
    with (source / "patients.csv").open() as table, (target / "patients.csv").open("w", newline="") as out:
        rows = [row for row in csv.DictReader(table) if row["patient_id"] in patients]
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_dicom_only_slices_stay_in_hu_with_padding_as_air(demo_source, tmp_path):
    source = dicom_only_copy(demo_source("slices"), tmp_path / "dicom", ["p003", "p006"])
    SlicesConverter().convert(source, tmp_path / "out")

    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(source / "p006" / "slices" / "002.dcm")))[0]
    written = array(tmp_path / "out" / "imagesTr" / "p006_002_0000.nii.gz")
    assert stored.min() == -3024 and written.min() == -1024
    np.testing.assert_array_equal(written, np.maximum(stored, -1024))
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["channel_names"] == {"0": "CT"}


def test_merge_lesions_writes_one_infection_label(demo_source, tmp_path):
    SlicesConverter().convert(demo_source("slices"), tmp_path / "out", merge_lesions=True)
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {"background": 0, "infection": 1}
    index_mask = np.asarray(Image.open(demo_source("slices") / "p001" / "masks" / "001.png"))
    np.testing.assert_array_equal(array(tmp_path / "out" / "labelsTr" / "p001_001.nii.gz"), index_mask > 0)


def test_unlabelled_value_of_index_masks_becomes_the_ignore_label_after_merging(source_copy, tmp_path):
    source = source_copy("slices")
    mask_path = source / "p001" / "masks" / "001.png"
    index_mask = np.asarray(Image.open(mask_path)).copy()
    index_mask[: index_mask.shape[0] // 2] = 200  # the upper half not annotated
    Image.fromarray(index_mask).save(mask_path)
    SlicesConverter().convert(source, tmp_path / "out", merge_lesions=True, unlabelled_value=200)
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {
        "background": 0, "infection": 1, "ignore": 2}
    np.testing.assert_array_equal(array(tmp_path / "out" / "labelsTr" / "p001_001.nii.gz"),
                                  np.where(index_mask == 200, 2, index_mask > 0))


def test_semiseg_layout_is_detected_with_one_patient_per_slice(demo_source, tmp_path):
    summary = SlicesConverter().convert(demo_source("semiseg"), tmp_path / "out")
    assert summary.written == [f"semiseg_{i}" for i in range(6)]
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {
        "background": 0, "ggo": 1, "consolidation": 2}
    record = json.loads((tmp_path / "out" / "covplan_dataset.json").read_text())
    assert record["cases"]["semiseg_3"]["patient_id"] == "semiseg_3"
    assert record["patients"]["semiseg_3"] == {"diagnosis": "covid", "severity": ""}


def paint(path: Path, value) -> None:
    picture = Image.open(path)
    pixels = np.array(picture.convert("RGB") if isinstance(value, tuple) else picture)
    pixels[:2, :2] = value
    Image.fromarray(pixels).save(path)


def replace_in_csv(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


BROKEN = {
    "unknown palette colour": ("p006/masks/001.png", lambda p: paint(p, (0, 0, 255)),
                               r"4 pixels have colours outside the palette \(\(0, 0, 255\)\)"),
    "index value outside scheme": ("p001/masks/002.png", lambda p: paint(p, 255),
                                   r"label values \[255\] are outside \[0, 1, 2, 3\]; binary masks"),
    "missing mask": ("p004/masks/001.png", Path.unlink, "mask missing for"),
    "slice and mask sizes differ": ("p001/slices/001.png",
                                    lambda p: Image.open(p).crop((0, 0, 20, 20)).save(p), "differs from its mask"),
    "truncated slice": ("p001/slices/002.png", lambda p: p.write_bytes(p.read_bytes()[:60]), "cannot be read"),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_broken_slice_is_refused_naming_the_file(broken, source_copy, tmp_path):
    relative, damage, message = BROKEN[broken]
    source = source_copy("slices")
    damage(source / relative)
    with pytest.raises(CovplanError, match=message) as caught:
        SlicesConverter().convert(source, tmp_path / "out")
    assert str(source / relative) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slices_copy"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("p004,viral pneumonia,mild", "p004,flu,mild", "line 5: diagnosis 'flu' is not one of"),
    ("p005,covid,mild\n", "", r"no row for patient folders \['p005'\]"),
])
def test_bad_patient_table_is_refused(old, new, message, source_copy, tmp_path):
    source = source_copy("slices")
    replace_in_csv(source / "patients.csv", old, new)
    with pytest.raises(CovplanError, match=message):
        SlicesConverter().convert(source, tmp_path / "out")


def test_empty_source_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CovplanError, match="neither patients.csv .* nor Imgs/ and GT/"):
        SlicesConverter().convert(tmp_path / "empty", tmp_path / "out")


@pytest.mark.slow
@pytest.mark.skipif(not SEMISEG_REAL.is_dir(), reason=f"real COVID-SemiSeg slices not found at {SEMISEG_REAL}")
def test_real_semiseg_slices_become_50_cases_with_ggo_and_consolidation(tmp_path, nnunet_verify, unchanged):
    real_unchanged = unchanged(SEMISEG_REAL)
    summary = SlicesConverter().convert(SEMISEG_REAL, tmp_path / "out", workers=2)
    assert len(summary.written) == 50 and summary.skipped == {}
    nnunet_verify(tmp_path / "out")
    present = [set(np.unique(array(p)).tolist()) for p in (tmp_path / "out" / "labelsTr").iterdir()]
    assert set().union(*present) == {0, 1, 2}
    assert sum(1 in labels for labels in present) == 48 and sum(2 in labels for labels in present) == 39
    assert len(json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]) == 3
    assert real_unchanged()


@pytest.mark.skipif(not DICOM_REAL.is_dir(), reason=f"real COVID-19-NY-SBU DICOM slices not found at {DICOM_REAL}")
def test_real_dicom_slices_convert_to_hu_with_header_spacing(tmp_path, unchanged):
    """The real slices have no masks: they are listed as healthy patients' (which need none;
    a dataset of only all-black mask files is refused) in a slice-format tree of links to
    the untouched files."""
    source = tmp_path / "ny_sbu"
    rows = ["patient_id,diagnosis,severity"]
    for patient in sorted(p for p in DICOM_REAL.iterdir() if p.is_dir()):
        rows.append(f"{patient.name},healthy,")
        (source / patient.name / "slices").mkdir(parents=True)
        for dicom in sorted(patient.glob("*.dcm")):
            (source / patient.name / "slices" / dicom.name).symlink_to(dicom)
    (source / "patients.csv").write_text("\n".join(rows) + "\n")
    real_unchanged = unchanged(DICOM_REAL)

    summary = SlicesConverter().convert(source, tmp_path / "out", workers=2)
    assert len(summary.written) == 20
    assert json.loads((tmp_path / "out" / "covplan_dataset.json").read_text())["intensity_domain"] == "hu"
    dicom = next((DICOM_REAL / "A002304").glob("*.dcm"))
    header = sitk.ReadImage(str(dicom))
    spacing = tuple(float(v) for v in header.GetMetaData("0028|0030").split("\\"))
    written = sitk.ReadImage(str(tmp_path / "out" / "imagesTr" / f"A002304_{dicom.stem}_0000.nii.gz"))
    assert written.GetSpacing() == pytest.approx(spacing[::-1])
    hu = sitk.GetArrayFromImage(written)
    assert hu.min() == -1024 and hu.max() > 500  # padding -3024 became air; bone stays
    np.testing.assert_array_equal(hu, np.maximum(sitk.GetArrayFromImage(header)[0], -1024))
    assert real_unchanged()


def test_dicom_and_png_slices_far_apart_in_spacing_are_warned_about(demo_source, tmp_path, caplog):
    # The demo's DICOM slices carry 11.25 mm pixels in their headers; its PNG/JPG slices get 1 mm.
    SlicesConverter().convert(demo_source("slices"), tmp_path / "out")
    assert ("4 DICOM slices have 11.25 mm pixels (from their headers), 8 PNG/JPG slices are assumed to have 1 mm "
            "(patients.csv pixel_spacing_mm, else 1 mm): planned at one spacing, some slices become 11x as many "
            "pixels a side as others") in caplog.text
    assert "give one spacing for all with --pixel-spacing MM" in caplog.text


def test_pixel_spacing_gives_every_slice_one_spacing_and_no_warning(demo_source, tmp_path, caplog):
    SlicesConverter().convert(demo_source("slices"), tmp_path / "out", pixel_spacing=0.8)
    spacings = {sitk.ReadImage(str(path)).GetSpacing() for folder in ("imagesTr", "labelsTr")
                for path in (tmp_path / "out" / folder).iterdir()}
    assert len(spacings) == 1 and spacings.pop() == pytest.approx((0.8, 0.8))
    assert "DICOM slices have" not in caplog.text
