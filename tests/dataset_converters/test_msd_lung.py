import json

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.errors import CovplanError
from dataset_converters.msd_lung import MsdLungConverter


def test_task_converts_with_labels_from_its_json_and_ignores_macos_files(demo_source, tmp_path, nnunet_verify,
                                                                          unchanged):
    source = demo_source("msd")
    assert (source / "imagesTr" / "._lung_001.nii.gz").is_file()
    source_unchanged = unchanged(source)
    summary = MsdLungConverter().convert(source, tmp_path / "out")

    out = tmp_path / "out"
    assert summary.written == ["lung_001", "lung_002", "lung_003", "lung_004"] and summary.skipped == {}
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [f"lung_00{i}_0000.nii.gz" for i in (1, 2, 3)]
    assert sorted(p.name for p in (out / "imagesTs").iterdir()) == ["lung_004_0000.nii.gz"]
    nnunet_verify(out)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "cancer": 1} and dataset["numTraining"] == 3
    assert dataset["channel_names"] == {"0": "CT"}
    source_image = sitk.ReadImage(str(source / "imagesTr" / "lung_002.nii.gz"))
    written = sitk.ReadImage(str(out / "imagesTr" / "lung_002_0000.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(source_image))
    assert written.GetSpacing() == source_image.GetSpacing() and written.GetOrigin() == source_image.GetOrigin()
    tumour = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "lung_002.nii.gz")))
    assert set(np.unique(tumour)) == {0, 1}
    record = json.loads((out / "covplan_dataset.json").read_text())
    assert record["intensity_domain"] == "hu"
    assert record["cases"]["lung_004"] == {"patient_id": "lung_004", "subset": "test",
                                           "source_files": {"image": "imagesTs/lung_004.nii.gz"},
                                           "source_domain": "hu", "intensity_transform": "none"}
    assert source_unchanged()


def test_label_outside_the_json_labels_is_refused(source_copy, tmp_path):
    source = source_copy("msd")
    label_path = source / "labelsTr" / "lung_001.nii.gz"
    label = sitk.ReadImage(str(label_path))
    array = sitk.GetArrayFromImage(label)
    array[0, 0, :3] = 2
    changed = sitk.GetImageFromArray(array)
    changed.CopyInformation(label)
    sitk.WriteImage(changed, str(label_path))

    with pytest.raises(CovplanError, match=rf"{label_path}: label values \[2\] are outside the label scheme \[0, 1\]"):
        MsdLungConverter().convert(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["msd_copy"]


def test_folder_without_dataset_json_is_refused(source_copy, tmp_path):
    source = source_copy("msd")
    (source / "dataset.json").unlink()
    with pytest.raises(CovplanError, match="dataset.json not found; point SRC_DIR at the task folder"):
        MsdLungConverter().convert(source, tmp_path / "out")


def test_unlabelled_value_becomes_the_ignore_label_after_the_task_labels(source_copy, tmp_path):
    source = source_copy("msd")
    label_path = source / "labelsTr" / "lung_001.nii.gz"
    label_image = sitk.ReadImage(str(label_path))
    values = sitk.GetArrayFromImage(label_image)
    values[:, :4] = 9
    sparse = sitk.GetImageFromArray(values)
    sparse.CopyInformation(label_image)
    sitk.WriteImage(sparse, str(label_path))

    MsdLungConverter().convert(source, tmp_path / "out", unlabelled_value=9)
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] == {
        "background": 0, "cancer": 1, "ignore": 2}
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "labelsTr" / label_path.name)))
    assert (written[:, :4] == 2).all() and set(np.unique(written[:, 4:])) <= {0, 1}
