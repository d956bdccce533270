import json
from pathlib import Path

import numpy as np
import pytest
from nnunetv2.evaluation.evaluate_predictions import load_summary_json

from covplan.errors import CovplanError
from covplan.evaluation import MetricOptions, evaluate_folder, metrics_from_counts
from tests.image_files import LUNG_INFECTION_LABELS, lung_infection_pair, write_nifti, write_png

DATASET_JSON = {"labels": LUNG_INFECTION_LABELS, "file_ending": ".nii.gz"}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    reference, prediction = lung_infection_pair()
    write_nifti(tmp_path / "gt" / "case_a.nii.gz", reference, (1, 1, 2))
    write_nifti(tmp_path / "pred" / "case_a.nii.gz", prediction, (1, 1, 2))
    return tmp_path / "gt", tmp_path / "pred"


def test_counts_and_ratios_match_a_hand_count(folders):
    summary = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1)
    infection = summary["metric_per_case"][0]["metrics"][3]
    assert (infection["TP"], infection["FP"], infection["FN"], infection["TN"]) == (2, 1, 2, 395)
    assert infection["Dice"] == pytest.approx(4 / 7)
    assert infection["IoU"] == pytest.approx(2 / 5)
    assert infection["Sensitivity"] == pytest.approx(2 / 4)
    assert infection["Precision"] == pytest.approx(2 / 3)
    assert infection["Specificity"] == pytest.approx(395 / 396)
    left = summary["metric_per_case"][0]["metrics"][1]
    assert (left["TP"], left["FP"], left["FN"], left["TN"]) == (195, 2, 1, 202)


def test_lungs_region_merges_left_and_right_from_the_label_names(folders):
    summary = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1)
    lungs = summary["mean"][(1, 2)]
    # Lungs in the reference: 396 voxels; the prediction adds 2 (ex-infection) and loses 1.
    assert (lungs["TP"], lungs["FP"], lungs["FN"], lungs["TN"]) == (395, 2, 1, 2)
    assert summary["names"] == {"1": "left lung", "2": "right lung", "3": "infection", "(1, 2)": "lungs"}


def test_foreground_mean_averages_the_single_labels_not_the_regions(folders):
    summary = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1)
    expected = np.mean([summary["mean"][label]["Dice"] for label in (1, 2, 3)])
    assert summary["foreground_mean"]["Dice"] == pytest.approx(expected)


def test_explicit_labels_and_regions_replace_the_automatic_ones(folders):
    summary = evaluate_folder(*folders, labels=[3], regions={"everything": [1, 2, 3]}, num_processes=1)
    assert set(summary["mean"]) == {3, (1, 2, 3)}
    assert summary["mean"][(1, 2, 3)]["Dice"] == pytest.approx(1.0)
    assert summary["names"] == {"3": "label_3", "(1, 2, 3)": "everything"}


def test_summary_json_is_nnunet_readable_and_holds_no_nan(folders, tmp_path):
    reference_dir, prediction_dir = folders
    empty = np.zeros((2, 3, 3), np.uint8)
    write_nifti(reference_dir / "case_empty.nii.gz", empty)
    write_nifti(prediction_dir / "case_empty.nii.gz", empty)
    output = tmp_path / "out" / "summary.json"
    summary = evaluate_folder(reference_dir, prediction_dir, output, dataset_json=DATASET_JSON, num_processes=1)
    text = output.read_text()
    assert "NaN" not in text
    empty_metrics = json.loads(text)["metric_per_case"][1]["metrics"]["3"]
    assert empty_metrics["Dice"] is None and empty_metrics["Sensitivity"] is None
    assert empty_metrics["Specificity"] == 1.0
    # The undefined Dice of the empty case is left out of the mean, and the summary says so.
    assert summary["mean"][3]["Dice"] == pytest.approx(4 / 7)
    assert summary["excluded_from_mean"]["3"]["Dice"] == ["case_empty"]
    assert load_summary_json(str(output))["mean"][(1, 2)]["TP"] == pytest.approx(395 / 2)
    assert [p.name for p in output.parent.iterdir()] == ["summary.json"]


def test_dice_of_two_empty_masks_is_undefined_but_a_false_positive_scores_zero():
    assert metrics_from_counts(0, 0, 0, 10)["Dice"] is None
    assert metrics_from_counts(0, 3, 0, 10)["Dice"] == 0.0


def test_a_metric_undefined_in_every_case_has_a_null_mean(tmp_path):
    empty = np.zeros((2, 3, 3), np.uint8)
    write_nifti(tmp_path / "gt" / "e.nii.gz", empty)
    write_nifti(tmp_path / "pred" / "e.nii.gz", empty)
    summary = evaluate_folder(tmp_path / "gt", tmp_path / "pred", labels=[1], num_processes=1)
    assert summary["mean"][1]["Dice"] is None and summary["foreground_mean"]["Dice"] is None
    assert summary["mean"][1]["Specificity"] == 1.0


def test_missing_prediction_is_named_unless_a_subset_is_allowed(folders):
    reference_dir, prediction_dir = folders
    write_nifti(reference_dir / "case_b.nii.gz", np.zeros((4, 10, 10), np.uint8))
    with pytest.raises(CovplanError, match=r"case_b\.nii\.gz: no prediction case_b\.nii\.gz"):
        evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)
    summary = evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1,
                              allow_missing_predictions=True)
    assert [case["case_id"] for case in summary["metric_per_case"]] == ["case_a"]


def test_prediction_without_reference_is_named(folders):
    reference_dir, prediction_dir = folders
    write_nifti(prediction_dir / "stray.nii.gz", np.zeros((4, 10, 10), np.uint8))
    with pytest.raises(CovplanError, match=r"stray\.nii\.gz: no reference stray\.nii\.gz"):
        evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)


def test_shape_mismatch_names_the_prediction(folders):
    reference_dir, prediction_dir = folders
    write_nifti(prediction_dir / "case_a.nii.gz", np.zeros((4, 10, 9), np.uint8))
    with pytest.raises(CovplanError, match=r"pred/case_a\.nii\.gz: shape \(4, 10, 9\) differs from its reference"):
        evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)


def _fractional(prediction):
    # Truncated, 1.5 would score as left lung and 0.7 as background.
    prediction[prediction == 1] = 1.5
    prediction[0, 0, 0] = 0.7


def _nan(prediction):
    # SimpleITK reads a NaN of a NIfTI file as 0, so the array it returns looks whole.
    prediction[0, 0, :3] = np.nan


@pytest.mark.parametrize("spoil, message", [
    (_fractional, r"pred/case_a\.nii\.gz: \d+ voxel\(s\) hold values that are not whole label numbers \(e\.g\. 0\.7, "
                  r"1\.5\); save the label map with integer"),
    (_nan, r"pred/case_a\.nii\.gz: 3 voxel\(s\) are NaN \(not a number\), not label numbers; save the label map with "
           r"integer labels"),
], ids=["fractional", "nan"])
def test_label_values_that_are_no_labels_are_refused_not_truncated(spoil, message, folders):
    reference_dir, prediction_dir = folders
    prediction = lung_infection_pair()[1].astype(np.float32)
    spoil(prediction)
    write_nifti(prediction_dir / "case_a.nii.gz", prediction, (1, 1, 2))
    with pytest.raises(CovplanError, match=message):
        evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)


def test_whole_label_values_stored_as_floats_are_labels(folders):
    reference_dir, prediction_dir = folders
    expected = evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)
    write_nifti(prediction_dir / "case_a.nii.gz", lung_infection_pair()[1].astype(np.float32), (1, 1, 2))
    assert evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1) == expected


def test_labels_are_required_without_dataset_json(folders):
    with pytest.raises(CovplanError, match="no labels to evaluate"):
        evaluate_folder(*folders, num_processes=1)


def test_png_slices_are_evaluated_with_nnunets_2d_reader(tmp_path):
    reference = np.zeros((6, 8), np.uint8)
    reference[1:3, 1:5] = 1  # 8 pixels GGO
    reference[4, 0:2] = 2  # 2 pixels consolidation
    prediction = reference.copy()
    prediction[4, 0] = 0
    write_png(tmp_path / "gt" / "s1.png", reference)
    write_png(tmp_path / "pred" / "s1.png", prediction)
    summary = evaluate_folder(tmp_path / "gt", tmp_path / "pred", labels=[1, 2], regions={"infection": [1, 2]},
                              num_processes=1)
    assert summary["mean"][2]["Sensitivity"] == pytest.approx(0.5)
    assert summary["mean"][2]["Precision"] == pytest.approx(1.0)
    assert summary["mean"][(1, 2)]["Dice"] == pytest.approx(2 * 9 / (2 * 9 + 1))


def test_parallel_workers_give_the_same_summary(folders):
    reference_dir, prediction_dir = folders
    reference, prediction = lung_infection_pair()
    write_nifti(reference_dir / "case_b.nii.gz", prediction)
    write_nifti(prediction_dir / "case_b.nii.gz", reference)
    serial = evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=1)
    parallel = evaluate_folder(reference_dir, prediction_dir, dataset_json=DATASET_JSON, num_processes=2)
    assert parallel["mean"] == serial["mean"]


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(CovplanError, match=r"nowhere: not a folder"):
        evaluate_folder(tmp_path, tmp_path / "nowhere", labels=[1], num_processes=1)


def test_boundary_and_lesion_metrics_are_in_the_summary_in_mm(tmp_path):
    reference = np.zeros((4, 6, 12), np.uint8)
    prediction = np.zeros_like(reference)
    reference[1:3, 2:4, 0:2] = 1
    prediction[1:3, 2:4, 10:12] = 1
    prediction[0, 0, 5] = 1
    write_nifti(tmp_path / "gt" / "c.nii.gz", reference, (0.5, 2.0, 3.0))  # x, y, z spacing
    write_nifti(tmp_path / "pred" / "c.nii.gz", prediction, (0.5, 2.0, 3.0))
    summary = evaluate_folder(tmp_path / "gt", tmp_path / "pred", tmp_path / "summary.json", labels=[1],
                              num_processes=1)
    metrics = json.loads((tmp_path / "summary.json").read_text())["metric_per_case"][0]["metrics"]["1"]
    # Prediction -> reference: the far cube's planes at 4.5 and 5 mm (4 voxels each) and the
    # speck at (dz, dy, dx) = (1, 2, 4) voxels = (3, 4, 2) mm; reference -> prediction: 5 mm at most.
    assert metrics["HD95"] == pytest.approx(np.percentile([4.5] * 4 + [5.0] * 4 + [np.sqrt(29)], 95))
    assert (metrics["LesionsRef"], metrics["LesionsPred"], metrics["LesionsDetected"]) == (1, 2, 0)
    assert metrics["LesionF1"] == 0.0
    assert metrics["AbsoluteVolumeError"] == pytest.approx(1 * 0.5 * 2.0 * 3.0)
    assert summary["mean"][1]["NSD"] == 0.0


def test_options_turn_off_the_costly_metrics_and_set_the_tolerance(folders):
    summary = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1,
                              options=MetricOptions(boundary=False, lesions=False))
    assert "HD95" not in summary["mean"][3] and "LesionF1" not in summary["mean"][3]
    strict = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1,
                             options=MetricOptions(surface_tolerance_mm=0.0, lesions=False))
    loose = evaluate_folder(*folders, dataset_json=DATASET_JSON, num_processes=1,
                            options=MetricOptions(surface_tolerance_mm=5.0, lesions=False))
    assert strict["mean"][3]["NSD"] < loose["mean"][3]["NSD"] == 1.0


def test_ignored_voxels_do_not_count_as_lesions(tmp_path):
    reference = np.zeros((1, 6, 6), np.uint8)
    prediction = np.zeros_like(reference)
    reference[0, 0, 0] = 1
    prediction[0, 0, 0] = 1
    reference[0, 4, 4] = 2  # ignore
    prediction[0, 4, 4] = 1
    write_nifti(tmp_path / "gt" / "c.nii.gz", reference)
    write_nifti(tmp_path / "pred" / "c.nii.gz", prediction)
    summary = evaluate_folder(tmp_path / "gt", tmp_path / "pred", num_processes=1,
                              dataset_json={"labels": {"background": 0, "infection": 1, "ignore": 2},
                                            "file_ending": ".nii.gz"})
    metrics = summary["metric_per_case"][0]["metrics"][1]
    assert (metrics["LesionsPred"], metrics["LesionPrecision"], metrics["HD95"]) == (1, 1.0, 0.0)
