import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from covplan.demo_data.layouts import write_demo_data
from covplan.errors import CovplanError


def test_ct3d_has_hu_and_grey_cases_with_all_three_mask_folders(tmp_path):
    write_demo_data(tmp_path / "ct3d", "ct3d", num_cases=2, size=24, seed=1)
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct3d/COVID-19-CT-Seg_20cases/coronacases_001.nii.gz")))
    grey = sitk.ReadImage(str(tmp_path / "ct3d/COVID-19-CT-Seg_20cases/radiopaedia_1_85001_1.nii.gz"))
    assert hu.shape == (12, 24, 24) and hu.min() < -900
    assert grey.GetPixelID() == sitk.sitkUInt8
    for folder, values in (("Lung_and_Infection_Mask", {0, 1, 2, 3}), ("Lung_Mask", {0, 1, 2}),
                           ("Infection_Mask", {0, 1})):
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct3d" / folder / "coronacases_001.nii.gz")))
        assert set(np.unique(mask)) == values


def test_msd_layout_lists_its_cases_in_a_v1_dataset_json(tmp_path):
    write_demo_data(tmp_path / "msd", "msd", num_cases=4, size=16)
    dataset = json.loads((tmp_path / "msd" / "dataset.json").read_text())
    assert dataset["modality"] == {"0": "CT"} and dataset["labels"] == {"0": "background", "1": "cancer"}
    assert [entry["image"] for entry in dataset["training"]] == [f"./imagesTr/lung_00{i}.nii.gz" for i in (1, 2, 3)]
    assert dataset["test"] == ["./imagesTs/lung_004.nii.gz"]
    assert (tmp_path / "msd" / "labelsTr" / "._lung_001.nii.gz").read_bytes()[:4] == b"\x00\x05\x16\x07"


def test_slice_layouts_and_the_same_seed_writes_the_same_data(tmp_path):
    for name in ("a", "b"):
        write_demo_data(tmp_path / name, "semiseg", num_cases=2, size=32, seed=4)
    mask = Image.open(tmp_path / "a" / "GT" / "1.png")
    assert mask.mode == "P" and set(np.unique(np.asarray(mask))) <= {0, 1, 2}
    for relative in ("Imgs/0.jpg", "GT/0.png", "GT/1.png"):
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    write_demo_data(tmp_path / "slices", "slices", num_cases=3, size=32)
    assert (tmp_path / "slices" / "patients.csv").read_text().splitlines()[1:] == [
        "p001,covid,moderate", "p002,covid,severe", "p003,healthy,"]
    assert not (tmp_path / "slices" / "p003" / "masks").exists()


def test_existing_output_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    with pytest.raises(CovplanError, match="already exists"):
        write_demo_data(tmp_path / "taken", "ct3d")
