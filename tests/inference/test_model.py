"""Model folders for prediction: the plugin's output activation, and which folds are used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from covplan.inference.model import TrainedModel, available_folds, load_model, normalised_sigmoid
from covplan.training.work_folder import TrainingInputs
from tests.input_images import ball


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


class ZeroLogits(torch.nn.Module):
    """The logits of ``network`` times zero: uniform probabilities that show it ran."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image) * 0


def test_each_fold_predicts_with_the_network_its_plugin_makes_for_prediction(trained_models, monkeypatch):
    from covplan.inference.model import ModelPredictor
    from covplan.registry import get_architecture

    model = load_model(trained_models["3d"])
    weights_seen = []

    def zero_logits(plugin, network: torch.nn.Module) -> torch.nn.Module:
        weights_seen.append({name: value.clone() for name, value in network.state_dict().items()})
        return ZeroLogits(network)

    # On the class: the registry hands out a new plugin instance per look-up.
    monkeypatch.setattr(type(get_architecture("plain_unet")), "inference_network", zero_logits)
    predictor = ModelPredictor(model, torch.device("cpu"), use_mirroring=False)
    image, _ = ball((20, 24, 24), seed=0)
    preprocessed, properties = predictor.preprocess(image[None], {"spacing": list(model.configuration_manager.spacing)})
    probabilities = list(predictor.fold_outputs(preprocessed, properties))
    uniform = 1 / model.label_manager.num_segmentation_heads
    assert [(float(p.min()), float(p.max())) for p in probabilities] == [pytest.approx((uniform, uniform))] * 2
    # Asked once per fold, in order, with that fold's weights loaded.
    assert len(weights_seen) == 2
    for seen, fold_weights in zip(weights_seen, model.fold_weights.values()):
        assert all(torch.equal(seen[name], value) for name, value in fold_weights.items())
