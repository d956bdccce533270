"""The LIDC-based dataset of bench_plan_preprocess: slabs of one CT with the air inside the
body labelled as lung."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from tests.benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_plan_preprocess") as module:
        yield module


def chest(depth: int = 12) -> np.ndarray:
    """Air around a body, two lungs inside it, a dense bone spot in the left lung."""
    y, x = np.mgrid[:64, :64]
    body = (y - 32) ** 2 / 28**2 + (x - 32) ** 2 / 30**2 < 1
    volume = np.where(body, 40, -1024).astype(np.int16)
    volume[(y - 32) ** 2 + (x - 18) ** 2 < 64] = -850
    volume[(y - 32) ** 2 + (x - 46) ** 2 < 64] = -850
    volume[30:33, 16:19] = 700
    return np.repeat(volume[None], depth, axis=0)


def test_lung_labels_are_the_air_inside_the_body(bench):
    volume = chest()
    labels = bench.lidc_lung_labels(volume)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1}
    assert np.array_equal(labels == 1, volume == -850)  # the outside air touches the edges: not lung


def test_slabs_of_the_ct_mirrored_every_other_case(bench, tmp_path):
    volume = chest(depth=120)
    volume[:, :, :8] = -1024  # left edge air, so that mirroring shows
    ct = sitk.GetImageFromArray(volume)
    ct.SetSpacing((0.7, 0.7, 2.5))
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))

    dataset = bench.write_lidc_dataset(tmp_path / "ct.nii.gz", tmp_path / "raw" / "Dataset501_Bench", 2)

    first, second = (sitk.ReadImage(str(dataset / "imagesTr" / f"case_00{index}_0000.nii.gz")) for index in (0, 1))
    assert first.GetSize() == (64, 64, bench.LIDC_SLAB_SLICES) and first.GetSpacing() == pytest.approx((0.7, 0.7, 2.5))
    assert np.array_equal(sitk.GetArrayFromImage(first), volume[:100])
    assert np.array_equal(sitk.GetArrayFromImage(second), volume[7:107, :, ::-1])
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset / "labelsTr" / "case_001.nii.gz")))
    assert np.array_equal(label == 1, volume[7:107, :, ::-1] == -850)
    dataset_json = json.loads((dataset / "dataset.json").read_text())
    assert dataset_json["labels"] == {"background": 0, "lung": 1} and dataset_json["numTraining"] == 2
