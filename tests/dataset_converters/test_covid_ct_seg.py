import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.conversion.images import HU_TO_GREY8, hu_to_grey8
from covplan.errors import CovplanError
from dataset_converters.covid_ct_seg import CovidCtSegConverter

HU_CASE, GREY_CASE = "coronacases_001", "radiopaedia_1_85001_1"
CASES = ["coronacases_001", "coronacases_002", "radiopaedia_1_85001_1", "radiopaedia_3_85003_1"]


def read(path: Path) -> tuple[np.ndarray, sitk.Image]:
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), image


def test_zenodo_layout_becomes_one_grey_domain_with_merged_lungs(demo_source, tmp_path, nnunet_verify, unchanged):
    source = demo_source("ct3d")
    source_unchanged = unchanged(source)
    summary = CovidCtSegConverter().convert(source, tmp_path / "out", workers=2)

    assert summary.written == CASES and summary.skipped == {}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    nnunet_verify(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {
        "background": 0, "lung": 1, "infection": 2}

    hu, hu_image = read(source / "COVID-19-CT-Seg_20cases" / f"{HU_CASE}.nii.gz")
    written, written_image = read(tmp_path / "out" / "imagesTr" / f"{HU_CASE}_0000.nii.gz")
    assert hu.min() < -900 and written.dtype == np.uint8
    np.testing.assert_array_equal(written, hu_to_grey8(hu))
    assert written_image.GetSpacing() == hu_image.GetSpacing() and written_image.GetOrigin() == hu_image.GetOrigin()
    grey, _ = read(source / "COVID-19-CT-Seg_20cases" / f"{GREY_CASE}.nii.gz")
    np.testing.assert_array_equal(read(tmp_path / "out" / "imagesTr" / f"{GREY_CASE}_0000.nii.gz")[0], grey)

    source_mask, _ = read(source / "Lung_and_Infection_Mask" / f"{HU_CASE}.nii.gz")
    labels, _ = read(tmp_path / "out" / "labelsTr" / f"{HU_CASE}.nii.gz")
    np.testing.assert_array_equal(labels, np.select([source_mask == 3, source_mask > 0], [2, 1], 0))
    assert set(np.unique(labels)) == {0, 1, 2}

    record = json.loads((tmp_path / "out" / "covplan_dataset.json").read_text())
    assert record["intensity_domain"] == "grey8" and record["patients"] == {}
    assert record["cases"][HU_CASE]["source_domain"] == "hu"
    assert record["cases"][HU_CASE]["intensity_transform"] == HU_TO_GREY8
    assert record["cases"][GREY_CASE] | {"source_files": None} == {
        "patient_id": GREY_CASE, "subset": "train", "source_files": None, "source_domain": "grey8",
        "intensity_transform": "none"}
    assert source_unchanged()


def make_renamed_copy(source: Path, target: Path) -> Path:
    """The widely used renamed copy: ct_scans/*_org_*.nii, lung_mask/, infection_mask/."""
    image_names = {"coronacases_001": "coronacases_org_001",
                   "radiopaedia_1_85001_1": "radiopaedia_org_covid-19-pneumonia-1_85001_1-dcm"}
    for folder, renamed in (("COVID-19-CT-Seg_20cases", "ct_scans"), ("Lung_Mask", "lung_mask"),
                            ("Infection_Mask", "infection_mask")):
        (target / renamed).mkdir(parents=True)
        for case, image_name in image_names.items():
            name = image_name if renamed == "ct_scans" else case
            sitk.WriteImage(sitk.ReadImage(str(source / folder / f"{case}.nii.gz")), str(target / renamed / f"{name}.nii"))
    return target


def test_renamed_copy_with_separate_masks_keeps_left_and_right(demo_source, tmp_path, nnunet_verify):
    source = make_renamed_copy(demo_source("ct3d"), tmp_path / "renamed")
    summary = CovidCtSegConverter().convert(source, tmp_path / "out", keep_left_right=True)

    assert summary.written == ["coronacases_001", "radiopaedia_1_85001_1"]
    nnunet_verify(tmp_path / "out")
    combined, _ = read(demo_source("ct3d") / "Lung_and_Infection_Mask" / "coronacases_001.nii.gz")
    np.testing.assert_array_equal(read(tmp_path / "out" / "labelsTr" / "coronacases_001.nii.gz")[0], combined)
    record = json.loads((tmp_path / "out" / "covplan_dataset.json").read_text())
    assert record["cases"]["coronacases_001"]["source_files"] == {
        "image": "ct_scans/coronacases_org_001.nii", "lung_mask": "lung_mask/coronacases_001.nii",
        "infection_mask": "infection_mask/coronacases_001.nii"}


def test_hu_output_refuses_grey_cases_or_drops_them(demo_source, tmp_path):
    source = demo_source("ct3d")
    with pytest.raises(CovplanError, match=f"{GREY_CASE}.nii.gz: 8-bit grey image, not HU"):
        CovidCtSegConverter().convert(source, tmp_path / "refused", intensity="hu")
    assert list(tmp_path.iterdir()) == []

    summary = CovidCtSegConverter().convert(source, tmp_path / "out", intensity="hu", drop_grey=True)
    assert summary.written == ["coronacases_001", "coronacases_002"]
    assert set(summary.skipped) == {"radiopaedia_1_85001_1", "radiopaedia_3_85003_1"}
    np.testing.assert_array_equal(read(tmp_path / "out" / "imagesTr" / f"{HU_CASE}_0000.nii.gz")[0],
                                  read(source / "COVID-19-CT-Seg_20cases" / f"{HU_CASE}.nii.gz")[0])
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["channel_names"] == {"0": "CT"}


def rewrite_mask(path: Path, change) -> None:
    sitk.WriteImage(change(sitk.ReadImage(str(path))), str(path))


def shifted_spacing(image: sitk.Image) -> sitk.Image:
    image.SetSpacing(tuple(s * 1.1 for s in image.GetSpacing()))
    return image


def with_value_5(image: sitk.Image) -> sitk.Image:
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = 5
    changed = sitk.GetImageFromArray(array)
    changed.CopyInformation(image)
    return changed


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


MASK = Path("Lung_and_Infection_Mask") / f"{HU_CASE}.nii.gz"
IMAGE = Path("COVID-19-CT-Seg_20cases") / f"{HU_CASE}.nii.gz"
BROKEN = {
    "mask geometry": (MASK, lambda p: rewrite_mask(p, shifted_spacing), "mask geometry differs"),
    "mask shape": (MASK, lambda p: rewrite_mask(p, lambda image: image[:, :, 1:]), "mask size"),
    "missing mask": (MASK, Path.unlink, "mask missing"),
    "label outside scheme": (MASK, lambda p: rewrite_mask(p, with_value_5), r"label values \[5\]"),
    "truncated image": (IMAGE, truncate, "cannot be read"),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_broken_case_is_refused_naming_the_file_and_leaves_nothing(broken, source_copy, tmp_path, unchanged):
    relative, damage, message = BROKEN[broken]
    source = source_copy("ct3d")
    damage(source / relative)
    source_unchanged = unchanged(source)

    with pytest.raises(CovplanError, match=message) as caught:
        CovidCtSegConverter().convert(source, tmp_path / "out")
    assert str(source / relative) in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct3d_copy"]

    summary = CovidCtSegConverter().convert(source, tmp_path / "out", skip_bad=True)
    assert list(summary.skipped) == [HU_CASE] and str(source / relative) in summary.skipped[HU_CASE]
    assert len(summary.written) == 3 and not (tmp_path / "out" / "labelsTr" / f"{HU_CASE}.nii.gz").exists()
    assert source_unchanged()


def test_empty_source_and_used_output_are_refused(demo_source, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CovplanError, match="neither COVID-19-CT-Seg_20cases/"):
        CovidCtSegConverter().convert(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(CovplanError, match="already exists and is not an empty folder"):
        CovidCtSegConverter().convert(demo_source("ct3d"), tmp_path / "used")
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_empty_image_folder_has_no_cases(tmp_path):
    for folder in ("COVID-19-CT-Seg_20cases", "Lung_and_Infection_Mask"):
        (tmp_path / "src" / folder).mkdir(parents=True)
    with pytest.raises(CovplanError, match="no cases found"):
        CovidCtSegConverter().convert(tmp_path / "src", tmp_path / "out")
    shutil.rmtree(tmp_path / "src")
    assert list(tmp_path.iterdir()) == []


def test_unlabelled_value_becomes_the_ignore_label(source_copy, tmp_path, nnunet_verify):
    source = source_copy("ct3d")
    mask_path = source / "Lung_and_Infection_Mask" / f"{HU_CASE}.nii.gz"
    source_mask, mask_image = read(mask_path)
    sparse = source_mask.copy()
    sparse[1::2] = 255  # every other slice not annotated
    written = sitk.GetImageFromArray(sparse)
    written.CopyInformation(mask_image)
    sitk.WriteImage(written, str(mask_path))

    CovidCtSegConverter().convert(source, tmp_path / "out", unlabelled_value=255)
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {
        "background": 0, "lung": 1, "infection": 2, "ignore": 3}
    nnunet_verify(tmp_path / "out")
    labels, _ = read(tmp_path / "out" / "labelsTr" / f"{HU_CASE}.nii.gz")
    assert (labels[1::2] == 3).all()
    np.testing.assert_array_equal(labels[::2], np.select([source_mask == 3, source_mask > 0], [2, 1], 0)[::2])
    with pytest.raises(CovplanError, match=r"label values \[255\] are outside the label scheme"):
        CovidCtSegConverter().convert(source, tmp_path / "refused")
