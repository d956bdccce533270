import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.evaluation import evaluate_folder
from covplan.evaluation.cross_validation import cross_validation_table
from tests.image_files import write_nifti
from tests.work_folders import (VALIDATED_CASES, VALIDATED_DATASET_JSON, build_validated_work, validated_good_prediction,
                                validated_reference)


def _dice(reference_mask, prediction_mask):
    return 2 * np.count_nonzero(reference_mask & prediction_mask) / (
        np.count_nonzero(reference_mask) + np.count_nonzero(prediction_mask))


def test_rows_per_model_fold_and_class_with_pooled_means(tmp_path):
    build_validated_work(tmp_path, {"good_unet": None, "weak_unet": None})
    rows = cross_validation_table(tmp_path)
    assert {(row["model"], row["fold"]) for row in rows} == {
        (model, fold) for model in ("good_unet__3d_fullres", "weak_unet__3d_fullres") for fold in (0, 1, "mean")}
    by_key = {(row["model"], row["fold"], row["class"]): row for row in rows}
    expected_infection = np.mean([_dice(validated_reference(i) == 2, validated_good_prediction(i) == 2)
                                  for i in range(len(VALIDATED_CASES))])
    pooled = by_key[("good_unet__3d_fullres", "mean", "infection")]
    assert pooled["Dice"] == pytest.approx(expected_infection)
    assert pooled["key"] == "2"
    # 2 reference lesions per case; 2 true + 5 specks predicted, 3 in the air and 2 in the lung.
    assert (pooled["LesionsRef"], pooled["LesionsPred"], pooled["LesionPrecision"]) == (2, 7, pytest.approx(2 / 7))
    assert "HD95" in pooled and "NSD" in pooled
    fold_0 = by_key[("good_unet__3d_fullres", 0, "infection")]["Dice"]
    fold_1 = by_key[("good_unet__3d_fullres", 1, "infection")]["Dice"]
    assert pooled["Dice"] == pytest.approx((fold_0 + fold_1) / 2)  # equal folds: pooled = mean of folds
    assert by_key[("weak_unet__3d_fullres", "mean", "foreground mean")]["Dice"] < by_key[
        ("good_unet__3d_fullres", "mean", "foreground mean")]["Dice"]


def test_pooled_mean_weighs_cases_not_folds(tmp_path):
    build_validated_work(tmp_path, {"good_unet": None})
    validation = tmp_path / "good_unet__3d_fullres" / "fold_1" / "validation"
    (validation / "case_3.nii.gz").unlink()
    worse = validated_good_prediction(2)
    worse[worse == 2] = 1
    worse[0, 0, 0] = 2
    write_nifti(validation / "case_2.nii.gz", worse)
    evaluate_folder(tmp_path / "gt_segmentations", validation, validation / "summary.json",
                    dataset_json=VALIDATED_DATASET_JSON, num_processes=1, allow_missing_predictions=True)
    rows = cross_validation_table(tmp_path, architectures=["good_unet"])
    infection = {row["fold"]: row for row in rows if row["class"] == "infection"}
    assert infection[1]["Dice"] == 0.0
    expected = np.mean([_dice(validated_reference(i) == 2, validated_good_prediction(i) == 2) for i in range(2)] + [0.0])
    assert infection["mean"]["Dice"] == pytest.approx(expected)


def test_a_fold_without_summary_names_the_file_and_the_fix(tmp_path):
    build_validated_work(tmp_path, {"good_unet": None})
    (tmp_path / "good_unet__3d_fullres" / "fold_1" / "validation" / "summary.json").unlink()
    with pytest.raises(CovplanError, match=r"fold_1/validation/summary\.json: missing; score the fold with covplan"):
        cross_validation_table(tmp_path)


def test_unknown_architecture_is_named(tmp_path):
    build_validated_work(tmp_path, {"good_unet": None})
    with pytest.raises(CovplanError, match="no trained model folders of architecture\\(s\\) swin"):
        cross_validation_table(tmp_path, architectures=["swin"])
