from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

from covplan.errors import CovplanError
from covplan.preprocessing import preprocess


def test_writes_data_nnunet_loaders_read(planned_3d_copy: Path, raw_3d: Path):
    plans = json.loads((planned_3d_copy / "plans_plain_unet.json").read_text())

    folders = preprocess(planned_3d_copy, configurations=["3d_fullres"], num_processes=1)

    fullres = plans["configurations"]["3d_fullres"]
    assert folders == {fullres["data_identifier"]: planned_3d_copy / fullres["data_identifier"]}
    dataset = nnUNetDatasetBlosc2(str(folders[fullres["data_identifier"]]))
    assert sorted(dataset.identifiers) == [f"case_{i:03d}" for i in range(8)]
    data, seg, _, properties = dataset.load_case("case_000")
    # case_000: 24 x 40 x 32 voxels of 2.5 x 0.8 x 0.8 mm resampled to the median spacing.
    expected_shape = np.round(np.array([24, 40, 32]) * np.array([2.5, 0.8, 0.8]) / np.array(fullres["spacing"]))
    assert data.shape == (1, *expected_shape.astype(int)) and seg.shape == data.shape
    # -1: background outside the non-zero mask (nnU-Net's cropping marks it so).
    assert {0, 1, 2} <= set(np.unique(seg[:]).tolist()) <= {-1, 0, 1, 2}
    lung = np.asarray(seg[0]) == 1
    # CT normalisation: lung (-800 HU) lies below the foreground mean, the lesion (-100 HU) above.
    assert np.asarray(data[0])[lung].mean() < 0 < np.asarray(data[0])[np.asarray(seg[0]) == 2].mean()
    assert properties["spacing"] == pytest.approx([2.5, 0.8, 0.8])
    ground_truth = sorted(path.name for path in (planned_3d_copy / "gt_segmentations").iterdir())
    assert ground_truth == [f"case_{i:03d}.nii.gz" for i in range(8)]
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(planned_3d_copy / "gt_segmentations" / "case_005.nii.gz")))
    original = sitk.GetArrayFromImage(sitk.ReadImage(str(raw_3d / "labelsTr" / "case_005.nii.gz")))
    assert np.array_equal(label, original)
    assert not [path for path in planned_3d_copy.iterdir() if path.name.startswith(".covplan-staging")]


def test_refuses_a_work_folder_without_plans(tmp_path: Path):
    with pytest.raises(CovplanError, match="run `covplan plan DATASET_DIR"):
        preprocess(tmp_path)


def test_unknown_architecture_names_the_planned_ones(planned_3d_copy: Path):
    with pytest.raises(CovplanError, match="has no plans for qchc_unet; planned: plain_unet"):
        preprocess(planned_3d_copy, architectures=["qchc_unet"])
