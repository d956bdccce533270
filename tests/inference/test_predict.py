"""covplan predict with tiny trained models: geometry, fold and model ensembles, mirroring,
probabilities, uncertainty, kept outputs, slices and bad input."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from covplan.errors import CovplanError
from covplan.inference import PredictionSettings, ensemble_folders, predict
from tests.input_images import (DIRECTION, ORIGIN, SPACING, ball, dice, write_dicom_series, write_disc_png,
                                    write_sphere_volume)

FAST = dict(use_mirroring=False, device="cpu")


@pytest.fixture(scope="module")
def runs(trained_models, sphere_input, tmp_path_factory) -> dict[str, Path]:
    """Predictions of the sphere with fold 0, fold 1, both folds, and both models (every
    trained fold of each), with probabilities and uncertainty."""
    root = tmp_path_factory.mktemp("runs")
    settings = dict(save_probabilities=True, save_uncertainty=True, **FAST)
    jobs = {"fold0": ([trained_models["3d"]], [0]), "fold1": ([trained_models["3d"]], [1]),
            "folds01": ([trained_models["3d"]], None)}
    for name, (models, folds) in jobs.items():
        result = predict(sphere_input[0], root / name, models, PredictionSettings(folds=folds, **settings))
        assert result.written == ["ball"] and not result.failed
    predict(sphere_input[0], root / "two_models", [trained_models["3d"], trained_models["3d_other"]],
            PredictionSettings(**{**settings, "folds": None}))
    return {name: root / name for name in (*jobs, "two_models")}


def read(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def probabilities(folder: Path) -> np.ndarray:
    return np.load(folder / "ball.npz")["probabilities"]


def test_labels_lie_on_the_input_grid_and_find_the_ball(runs, sphere_input):
    labels = read(runs["folds01"] / "ball.nii.gz")
    assert labels.GetSpacing() == pytest.approx(SPACING)
    assert labels.GetOrigin() == pytest.approx(ORIGIN)
    assert labels.GetDirection() == pytest.approx(DIRECTION)
    array = sitk.GetArrayFromImage(labels)
    assert array.shape == sphere_input[1].shape
    assert dice(array, sphere_input[1]) > 0.8


def test_probabilities_sum_to_one_on_the_input_grid(runs, sphere_input):
    for name in runs:
        values = probabilities(runs[name])
        assert values.shape == (2, *sphere_input[1].shape)
        np.testing.assert_allclose(values.sum(axis=0), 1.0, atol=1e-5)
    labels = sitk.GetArrayFromImage(read(runs["folds01"] / "ball.nii.gz"))
    assert (probabilities(runs["folds01"]).argmax(axis=0) == labels).all()


def test_two_folds_average_the_single_folds(runs):
    np.testing.assert_allclose(probabilities(runs["folds01"]),
                               (probabilities(runs["fold0"]) + probabilities(runs["fold1"])) / 2, atol=1e-5)
    assert not np.allclose(probabilities(runs["fold0"]), probabilities(runs["fold1"]), atol=1e-3)


def test_two_models_are_averaged_on_the_input_grid(runs):
    # Members: folds 0 and 1 of the first model, fold 1 (its only one) of the second.
    expected = (probabilities(runs["fold0"]) + 2 * probabilities(runs["fold1"])) / 3
    np.testing.assert_allclose(probabilities(runs["two_models"]), expected, atol=1e-5)
    summary = json.loads((runs["two_models"] / "uncertainty_summary.json").read_text())
    assert summary["cases"]["ball"]["members"] == 3


def test_uncertainty_maps_follow_the_members(runs, sphere_input):
    one = read(runs["fold0"] / "uncertainty" / "ball_variance.nii.gz")
    assert sitk.GetArrayFromImage(one).max() == 0.0  # a single member cannot disagree
    assert one.GetOrigin() == pytest.approx(ORIGIN) and one.GetDirection() == pytest.approx(DIRECTION)
    variance = sitk.GetArrayFromImage(read(runs["folds01"] / "uncertainty" / "ball_variance.nii.gz"))
    assert variance.shape == sphere_input[1].shape and variance.max() > 0
    mean = probabilities(runs["folds01"])
    entropy = sitk.GetArrayFromImage(read(runs["folds01"] / "uncertainty" / "ball_entropy.nii.gz"))
    np.testing.assert_allclose(entropy, -(mean * np.log(np.clip(mean, 1e-30, 1))).sum(axis=0), atol=1e-5)
    labels = sitk.GetArrayFromImage(read(runs["folds01"] / "ball.nii.gz"))
    case = json.loads((runs["folds01"] / "uncertainty_summary.json").read_text())["cases"]["ball"]
    assert case["lesion_voxels"] == int((labels == 1).sum())  # "ball" is the one non-lung label
    assert case["mean_entropy_in_lesions"] == pytest.approx(float(entropy[labels == 1].mean()), rel=1e-4)


def test_members_that_agree_leave_no_variance(trained_models, sphere_input, tmp_path):
    model = trained_models["3d"]
    predict(sphere_input[0], tmp_path, [model, model], PredictionSettings(folds=[0], save_uncertainty=True, **FAST))
    assert sitk.GetArrayFromImage(read(tmp_path / "uncertainty" / "ball_variance.nii.gz")).max() == 0.0


def test_mirroring_keeps_shapes_and_changes_the_probabilities(trained_models, sphere_input, runs, tmp_path):
    predict(sphere_input[0], tmp_path, [trained_models["3d"]],
            PredictionSettings(folds=[0], use_mirroring=True, save_probabilities=True, device="cpu"))
    mirrored = probabilities(tmp_path)
    assert mirrored.shape == probabilities(runs["fold0"]).shape
    np.testing.assert_allclose(mirrored.sum(axis=0), 1.0, atol=1e-5)
    assert not np.allclose(mirrored, probabilities(runs["fold0"]), atol=1e-4)


def test_existing_outputs_are_kept_without_overwrite(trained_models, sphere_input, runs, tmp_path):
    output = Path(shutil.copytree(runs["fold0"], tmp_path / "out"))
    (output / "ball.nii.gz").write_bytes(b"earlier result")
    result = predict(sphere_input[0], output, [trained_models["3d"]], PredictionSettings(folds=[0], **FAST))
    assert result.kept == ["ball"] and result.written == []
    assert (output / "ball.nii.gz").read_bytes() == b"earlier result"
    result = predict(sphere_input[0], output, [trained_models["3d"]],
                     PredictionSettings(folds=[0], overwrite=True, **FAST))
    assert result.written == ["ball"]
    assert read(output / "ball.nii.gz").GetSize() == (24, 24, 20)
    assert not list(output.glob(".*"))  # no temporary files left


def test_a_png_slice_gets_a_png_label_map(trained_models, tmp_path):
    label = write_disc_png(tmp_path / "in" / "disc.png", seed=3)
    result = predict(tmp_path / "in", tmp_path / "out", [trained_models["2d"]], PredictionSettings(**FAST))
    assert result.written == ["disc"]
    predicted = np.asarray(Image.open(tmp_path / "out" / "disc.png"))
    assert predicted.shape == label.shape and predicted.dtype == np.uint8
    assert dice(predicted, label) > 0.8


def with_domain(model: Path, domain: str, folder: Path) -> Path:
    copy = Path(shutil.copytree(model, folder / model.name))
    (copy / "covplan_dataset.json").write_text(json.dumps({"format_version": 1, "intensity_domain": domain}))
    return copy


def test_an_image_of_another_domain_is_refused(trained_models, tmp_path):
    write_disc_png(tmp_path / "in" / "disc.png")
    hu_model = with_domain(trained_models["2d"], "hu", tmp_path)
    result = predict(tmp_path / "in", tmp_path / "out", [hu_model], PredictionSettings(**FAST))
    assert result.written == []
    assert result.failed == {"disc": f"{tmp_path / 'in' / 'disc.png'}: the image is 8-bit grey but the model "
                                     f"{hu_model} was trained on CT in HU; give it the image in that domain"}
    assert not (tmp_path / "out" / "disc.png").exists()


def test_bad_cases_are_reported_and_the_others_predicted(trained_models, sphere_input, tmp_path):
    inputs = Path(shutil.copytree(sphere_input[0], tmp_path / "in"))
    write_disc_png(inputs / "flat.png")
    for channel in (0, 1):
        write_sphere_volume(inputs / "two" / f"two_{channel:04d}.nii.gz")
    (inputs / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    result = predict(inputs, tmp_path / "out", [trained_models["3d"]], PredictionSettings(folds=[0], **FAST))
    assert result.written == ["ball"]
    assert sorted(result.failed) == ["broken", "flat", "two_two"]
    assert "broken.nii.gz: cannot be read" in result.failed["broken"]
    assert "flat.png: a 2D image, but the model" in result.failed["flat"]
    assert "2 channel(s), but the model" in result.failed["two_two"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["ball.nii.gz", "dataset.json"]


def test_model_folders_without_usable_checkpoints_are_refused(trained_models, sphere_input, tmp_path):
    untrained = Path(shutil.copytree(trained_models["3d_other"], tmp_path / "untrained",
                                     ignore=shutil.ignore_patterns("fold_*")))
    with pytest.raises(CovplanError, match="untrained: no fold_\\*/checkpoint_final.pth; train the model first"):
        predict(sphere_input[0], tmp_path / "out", [untrained], PredictionSettings())
    old = Path(shutil.copytree(trained_models["3d_other"], tmp_path / "old"))
    checkpoint = torch.load(old / "fold_1" / "checkpoint_final.pth", weights_only=False)
    checkpoint["covplan"] = 99
    torch.save(checkpoint, old / "fold_1" / "checkpoint_final.pth")
    with pytest.raises(CovplanError, match="written by another covplan version \\(checkpoint format 99, this "
                                           "covplan reads 1\\)"):
        predict(sphere_input[0], tmp_path / "out", [old], PredictionSettings())
    (tmp_path / "no_model").mkdir()
    with pytest.raises(CovplanError, match="is not a covplan model folder \\(plans.json missing\\)"):
        predict(sphere_input[0], tmp_path / "out", [tmp_path / "no_model"], PredictionSettings())
    assert not (tmp_path / "out").exists()


def test_ensemble_of_saved_probabilities_equals_the_fold_ensemble(runs, tmp_path):
    written = ensemble_folders([runs["fold0"], runs["fold1"]], tmp_path, save_probabilities=True)
    assert written == ["ball"]
    np.testing.assert_allclose(np.load(tmp_path / "ball.npz")["probabilities"], probabilities(runs["folds01"]),
                               atol=1e-5)
    ensembled, direct = read(tmp_path / "ball.nii.gz"), read(runs["folds01"] / "ball.nii.gz")
    assert (sitk.GetArrayFromImage(ensembled) == sitk.GetArrayFromImage(direct)).all()
    assert ensembled.GetOrigin() == direct.GetOrigin() and ensembled.GetDirection() == direct.GetDirection()


def test_predictions_equal_the_trainers_validation_of_the_fold(trained_fold, nnunet_work_root, tmp_path):
    fold_folder, _ = trained_fold
    images = nnunet_work_root / "raw" / "Dataset001_Sphere" / "imagesTr"
    (tmp_path / "in").mkdir()
    for case in ("case_003", "case_005"):  # fold 0's validation cases, predicted without mirroring
        shutil.copy(images / f"{case}_0000.nii.gz", tmp_path / "in")
    predict(tmp_path / "in", tmp_path / "out", [fold_folder.parent], PredictionSettings(folds=[0], **FAST))
    for case in ("case_003", "case_005"):
        ours = sitk.GetArrayFromImage(read(tmp_path / "out" / f"{case}.nii.gz"))
        trainers = sitk.GetArrayFromImage(read(fold_folder / "validation" / f"{case}.nii.gz"))
        assert (ours == trainers).all()


def test_a_dicom_series_is_predicted_on_its_own_grid(trained_models, tmp_path):
    image, label = ball((20, 24, 24), seed=5)
    write_dicom_series(np.rint(image * 100), tmp_path / "in" / "series", spacing=(1.0, 0.95, 1.1))
    result = predict(tmp_path / "in", tmp_path / "out", [trained_models["3d"]], PredictionSettings(folds=[0], **FAST))
    assert result.written == ["series"]
    labels = read(tmp_path / "out" / "series.nii.gz")
    assert labels.GetSpacing() == pytest.approx((1.0, 0.95, 1.1))
    assert dice(sitk.GetArrayFromImage(labels), label) > 0.8


def test_stored_postprocessing_is_applied_unless_turned_off(trained_models, sphere_input, runs, tmp_path):
    model = Path(shutil.copytree(trained_models["3d"], tmp_path / "model" / "plain_unet__3d_fullres"))
    # A rule that removes every ball smaller than a litre: its effect is unmistakable.
    rules = [{"rule": "remove_small_components", "label": 1, "min_size_mm3": 1e6}]
    (model / "postprocessing.json").write_text(json.dumps({"rules": rules}))
    unprocessed = sitk.GetArrayFromImage(read(runs["fold0"] / "ball.nii.gz"))
    assert (unprocessed == 1).sum() > 0
    predict(sphere_input[0], tmp_path / "on", [model], PredictionSettings(folds=[0], **FAST))
    assert (sitk.GetArrayFromImage(read(tmp_path / "on" / "ball.nii.gz")) == 1).sum() == 0
    predict(sphere_input[0], tmp_path / "off", [model], PredictionSettings(folds=[0], postprocess=False, **FAST))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read(tmp_path / "off" / "ball.nii.gz")), unprocessed)


def test_temporaries_a_killed_run_left_are_removed_by_the_next_run(trained_models, sphere_input, tmp_path):
    output = tmp_path / "out"
    (output / "uncertainty").mkdir(parents=True)
    left = [output / ".ball.nii.gz.k3j2.tmp", output / ".ball.nii.gz.k3j2.tmp.nii.gz",
            output / "uncertainty" / ".ball_entropy.nii.gz.x1.tmp"]
    for path in left:
        path.write_bytes(b"half written")
    (output / "notes.tmp").write_text("the user's own file")
    result = predict(sphere_input[0], output, [trained_models["3d"]], PredictionSettings(folds=[0], **FAST))
    assert result.written == ["ball"]
    assert not any(path.exists() for path in left)
    assert (output / "notes.tmp").read_text() == "the user's own file"


def test_a_case_without_its_label_map_is_predicted_again(trained_models, sphere_input, runs, tmp_path):
    # What kill -9 between the .npz and the label map leaves: every output but the label map.
    output = Path(shutil.copytree(runs["fold0"], tmp_path / "out"))
    (output / "ball.nii.gz").unlink()
    result = predict(sphere_input[0], output, [trained_models["3d"]],
                     PredictionSettings(folds=[0], save_probabilities=True, **FAST))
    assert result.written == ["ball"] and result.kept == []
    assert read(output / "ball.nii.gz").GetSize() == (24, 24, 20)


def test_the_uncertainty_summary_is_written_before_the_label_map(trained_models, sphere_input, tmp_path,
                                                                 monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt  # the run dies where the label map would be written

    # The module, not the function `covplan.inference.predict` that the package exports.
    monkeypatch.setattr(importlib.import_module("covplan.inference.predict"), "write_label_map", killed)
    with pytest.raises(KeyboardInterrupt):
        predict(sphere_input[0], tmp_path, [trained_models["3d"]],
                PredictionSettings(folds=[0], save_uncertainty=True, **FAST))
    assert "ball" in json.loads((tmp_path / "uncertainty_summary.json").read_text())["cases"]
    assert not (tmp_path / "ball.nii.gz").exists()
