"""``covplan export --onnx --int8``: the ONNX networks quantized statically on tiles of the
training cases, kept only when their labels agree with float32's (Dice >= 0.99 per class),
the figure in the manifest and the model card."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.errors import CovplanError
from covplan.export import int8 as int8_module
from covplan.export.archive import MODEL_CARD_FILE, export_archive
from covplan.export.int8 import MIN_INT8_DICE, quantize_fold
from covplan.inference import PredictionSettings, predict
from tests.input_images import dice

pytest.importorskip("onnxruntime", reason="ONNX Runtime comes with covplan[onnx]")


def tiny_onnx_network(path, classes: int = 3) -> None:
    """One 3 x 3 convolution from "image" to "logits", written with onnx's helpers (the
    exporter takes seconds even for this)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(classes, 1, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weights"], ["logits"], pads=[1, 1, 1, 1])], "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, 16, 16])],
        [numpy_helper.from_array(weights, "weights")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_an_int8_network_below_the_agreement_is_refused_with_the_figure(tmp_path, monkeypatch):
    target = tmp_path / "network.onnx"
    tiny_onnx_network(target)
    float_bytes = target.read_bytes()
    tiles = [np.random.default_rng(seed).normal(size=(1, 1, 16, 16)).astype(np.float32) for seed in range(3)]
    monkeypatch.setattr(int8_module, "MIN_INT8_DICE", 1.01)  # no network reaches it: the refusal, deterministic
    with pytest.raises(CovplanError) as refused:
        quantize_fold(target, tiles, {1: "lesion", 2: "lung"}, "tiny fold 0")
    message = str(refused.value)
    assert message.startswith("the int8 network of tiny fold 0 agrees with float32's labels at Dice ")
    assert "on 3 calibration tiles (at least 1.01 needed); export without --int8" in message and "\n" not in message
    assert target.read_bytes() == float_bytes and list(tmp_path.iterdir()) == [target]  # float32 kept, nothing left


def test_an_int8_archive_carries_its_agreement_and_predicts_with_onnx_runtime(trained_models, sphere_input,
                                                                            tmp_path):
    target = tmp_path / "int8.zip"
    manifest = export_archive([trained_models["3d"]], target, folds=[0], onnx=True, int8=True)
    [entry] = manifest["models"]
    agreement = entry["onnx_int8_dice"]["0"]
    assert set(agreement) == {"ball"} and min(agreement.values()) >= MIN_INT8_DICE
    with zipfile.ZipFile(target) as opened:
        card = opened.read(MODEL_CARD_FILE).decode()
        description = json.loads(opened.read(f"{entry['folder']}/onnx.json"))
    assert f"ball {agreement['ball']:.4f}" in card and "quantized to int8" in card
    assert description["folds"]["0"]["precision"] == "int8" and description["folds"]["0"]["calibration_tiles"] >= 2
    predict(sphere_input[0], tmp_path / "out", [target], PredictionSettings(use_mirroring=False, device="cpu"))
    predicted = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "ball.nii.gz")))
    assert dice(predicted, sphere_input[1]) > 0.8


def test_int8_without_onnx_is_refused_before_any_work(tmp_path):
    with pytest.raises(CovplanError, match="--int8 quantizes the ONNX networks; give --onnx with it"):
        export_archive([tmp_path / "model"], tmp_path / "model.zip", int8=True)
