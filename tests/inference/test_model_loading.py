"""Model folders loaded for prediction: the plugin's output activation, and which folds are used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from covplan.architectures.base import get_architecture
from covplan.errors import CovplanError
from covplan.inference.model_loading import TrainedModel, available_folds, load_model, normalised_sigmoid
from covplan.registry import PluginError
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


def test_a_plugin_that_raises_in_build_network_is_one_line_naming_it(trained_models, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("no such layer\nwith a second line")

    monkeypatch.setattr(type(get_architecture("plain_unet")), "build_network", broken)
    with pytest.raises(PluginError, match=r"^architecture 'plain_unet' \(covplan [^)]*\): building its network for "
                                          r".*plain_unet__3d_fullres raised RuntimeError: no such layer; fix or update "
                                          r"the plugin \(`covplan plugins` lists it\)[^\n]*$"):
        load_model(trained_models["3d"], [0])


def _replanned(model: Path, folder: Path, change) -> Path:
    """A copy of ``model`` whose plans.json was changed by ``change(configuration)`` after training."""
    copy = Path(shutil.copytree(model, folder))
    plans = json.loads((copy / "plans.json").read_text())
    change(plans["configurations"]["3d_fullres"])
    (copy / "plans.json").write_text(json.dumps(plans))
    return copy


def test_folds_trained_on_other_plans_are_named_not_the_plugin(trained_models, tmp_path, caplog):
    wider = _replanned(trained_models["3d"], tmp_path / "wider",
                       lambda configuration: configuration["architecture"]["arch_kwargs"].update(
                           features_per_stage=[6, 12, 16]))
    with pytest.raises(CovplanError, match=r"fold_0/checkpoint_final.pth does not fit the network of the plans now in "
                                           r"the model folder \(.*\): fold\(s\) 0 1 were trained on other plans than "
                                           r".*wider/plans.json holds now .*`covplan train .* -a plain_unet -c "
                                           r"3d_fullres --folds 0 1`\)$"):
        load_model(wider)
    larger_batch = _replanned(trained_models["3d"], tmp_path / "batch",
                              lambda configuration: configuration.update(batch_size=4))
    load_model(larger_batch, [0])  # the weights fit: predicted, and the change is said
    assert "fold(s) 0 were trained on other plans than" in caplog.text
    caplog.clear()
    load_model(trained_models["3d"])
    assert "other plans" not in caplog.text
