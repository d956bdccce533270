"""Model folders loaded for prediction: the plugin's output activation, and which folds are used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from covplan.inference.model_loading import TrainedModel, available_folds, load_model, normalised_sigmoid
from covplan.training.inputs import TrainingInputs


def test_normalised_sigmoid_by_hand():
    logits = torch.tensor([[0.0, 2.0], [0.0, -2.0], [float("-inf"), 0.0]])  # 3 classes, 2 voxels
    expected_first = [0.5, 0.5, 0.0]  # sigmoids 0.5, 0.5 and 0, divided by their sum 1
    probabilities = normalised_sigmoid(logits)
    assert probabilities[:, 0].tolist() == pytest.approx(expected_first)
    assert probabilities.sum(0).tolist() == pytest.approx([1.0, 1.0])
    assert probabilities.argmax(0).tolist() == torch.sigmoid(logits).argmax(0).tolist()


def test_a_sigmoid_plugin_gets_normalised_sigmoid_probabilities(trained_models):
    plain = load_model(trained_models["3d"], [0])
    assert plain.label_manager.inference_nonlin is not normalised_sigmoid
    inputs = plain.inputs
    sigmoid_inputs = TrainingInputs(inputs.work, "coarse_refine", inputs.configuration, inputs.plans,
                                    inputs.dataset_json, inputs.fingerprint)
    coarse = TrainedModel(plain.folder, sigmoid_inputs, None, {}, None)
    assert coarse.label_manager.inference_nonlin is normalised_sigmoid
    logits = torch.tensor([[3.0], [1.0]])
    assert coarse.label_manager.apply_inference_nonlin(logits).sum().item() == pytest.approx(1.0)


def test_every_trained_fold_by_default_and_fold_all_only_alone(trained_models, tmp_path):
    assert available_folds(trained_models["3d"], "checkpoint_final.pth") == [0, 1]
    assert list(load_model(trained_models["3d"]).fold_weights) == [0, 1]
    only_all = Path(shutil.copytree(trained_models["3d_other"], tmp_path / "m"))
    (only_all / "fold_1").rename(only_all / "fold_all")
    assert available_folds(only_all, "checkpoint_final.pth") == ["all"]
