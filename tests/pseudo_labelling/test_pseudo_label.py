"""``pseudo_label`` end to end on the spheres' trained folds: the threshold from their
held-out predictions, ignore voxels where the ensemble is unsure, the provenance, and a
split that keeps the pseudo-labelled case out of validation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import SimpleITK as sitk

from covplan.conversion.raw_dataset import read_raw_dataset
from covplan.inference import PredictionSettings, predict
from covplan.planning import patient_grouped_splits
from covplan.pseudo_labelling import PseudoLabelSettings, pseudo_label
from covplan.work_folder import splits_path

FAST = dict(fast=True, device="cpu", threads=1)


def _array(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_pseudo_labels_ignore_the_unsure_voxels_record_why_and_stay_out_of_validation(
        trained_models, nnunet_work_root, sphere_input, tmp_path, unchanged, nnunet_verify):
    model = trained_models["3d"]
    labelled = nnunet_work_root / "raw" / "Dataset001_Sphere"
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(sphere_input[0], unlabelled)
    labelled_unchanged, unlabelled_unchanged = unchanged(labelled), unchanged(unlabelled)
    output = tmp_path / "Dataset001_SpherePseudo"

    result = pseudo_label([model], unlabelled, labelled, output, PseudoLabelSettings(target_precision=0.95, **FAST))

    assert labelled_unchanged() and unlabelled_unchanged()
    nnunet_verify(output)
    split = json.loads(splits_path(model.parent).read_text())
    # The threshold came from the held-out predictions of the folds trained (0 and 1).
    record = json.loads((output / "covplan_dataset.json").read_text())["pseudo_labels"]
    assert record["cv_folds"] == {"0": sorted(split[0]["val"]), "1": sorted(split[1]["val"])}
    assert record["threshold_entropy_nats"] == result.choice.threshold
    assert min(value for value in record["cv_agreement_at_threshold"].values() if value is not None) >= 0.95
    assert record["models"] == [str(model.absolute())] and record["cases"] == ["pseudo_ball"]
    dataset = read_raw_dataset(output)
    assert dataset.dataset_json["labels"]["ignore"] == 2 and dataset.dataset_json["numTraining"] == 7
    assert dataset.pseudo_labelled_cases == ["pseudo_ball"]
    assert dataset.covplan_dataset["cases"]["pseudo_ball"]["source_files"]["image"] == \
        [str((unlabelled / "ball_0000.nii.gz").absolute())]
    # Ignore exactly where the ensemble of both folds is unsure; its label elsewhere.
    predict(unlabelled, tmp_path / "ensemble", [model], PredictionSettings(save_uncertainty=True, **FAST))
    entropy = _array(tmp_path / "ensemble" / "uncertainty" / "ball_entropy.nii.gz")
    labels = _array(output / "labelsTr" / "pseudo_ball.nii.gz")
    unsure = entropy > record["threshold_entropy_nats"]
    assert unsure.any() and not unsure.all()
    assert (labels[unsure] == 2).all()
    np.testing.assert_array_equal(labels[~unsure], _array(tmp_path / "ensemble" / "ball.nii.gz")[~unsure])
    assert record["cases"] == sorted(result.pseudo_labelled)
    assert result.pseudo_labelled["pseudo_ball"] == round(float((~unsure).mean()), 6)
    # Planning splits it so: it trains in every fold and validates in none.
    splits = patient_grouped_splits(dataset.cross_validated_patients, 5, training_only=dataset.pseudo_labelled_cases)
    assert all("pseudo_ball" in fold["train"] for fold in splits)
    assert sorted(case for fold in splits for case in fold["val"]) == sorted(read_raw_dataset(labelled).case_ids)
