"""Prediction with a loaded model: each fold runs the network its plugin makes for prediction."""

from __future__ import annotations

import pytest
import torch

from covplan.inference.model_loading import load_model
from covplan.inference.predictor import ModelPredictor
from covplan.architectures.base import get_architecture
from tests.input_images import ball


class ZeroLogits(torch.nn.Module):
    """The logits of ``network`` times zero: uniform probabilities that show it ran."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image) * 0


def test_each_fold_predicts_with_the_network_its_plugin_makes_for_prediction(trained_models, monkeypatch):
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
