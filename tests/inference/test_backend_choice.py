"""The backend when --backend is not given: ONNX Runtime for models that carry ONNX
networks on the CPU, torch otherwise; --backend overrides."""

from __future__ import annotations

import importlib.util
import json
import zipfile

import pytest

from covplan.inference import backend_choice
from covplan.inference.backend_choice import choose_backend


@pytest.fixture
def folders(tmp_path):
    onnx, plain, classifier = (tmp_path / name for name in ("onnx_model", "torch_model", "classifier_model"))
    for folder in (onnx, plain, classifier):
        (folder / "fold_0").mkdir(parents=True)
    for folder in (onnx, classifier):
        (folder / "onnx.json").write_text("{}")
    (classifier / "fold_0" / "slice_classifier.pth").write_bytes(b"")
    return onnx, plain, classifier


def archive(path, entries, files=()):
    with zipfile.ZipFile(path, "w") as written:
        written.writestr("covplan_archive.json", json.dumps({"format_version": 1, "models": entries,
                                                             "files": {name: "0" for name in files}}))
    return path


@pytest.fixture(autouse=True)
def onnxruntime_installed(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "onnxruntime" else real(name))


def test_models_with_onnx_networks_run_on_onnx_runtime_on_the_cpu(folders, tmp_path):
    onnx, plain, classifier = folders
    assert choose_backend(None, [onnx], "cpu") == "onnxruntime"
    assert choose_backend(None, [onnx, plain], "cpu") == "torch"  # every model must carry them
    assert choose_backend(None, [classifier], "cpu") == "torch"  # its slice classifiers are torch networks
    assert choose_backend("torch", [onnx], "cpu") == "torch"
    assert choose_backend("onnxruntime", [plain], "cpu") == "onnxruntime"  # and load_onnx_model says what is missing
    with_onnx = archive(tmp_path / "a.zip", [{"folder": "m", "onnx": {"0": 1e-6}}], ["m/fold_0/network.onnx"])
    without = archive(tmp_path / "b.zip", [{"folder": "m"}], ["m/fold_0/checkpoint_final.pth"])
    with_classifier = archive(tmp_path / "c.zip", [{"folder": "m", "onnx": {"0": 1e-6}}],
                              ["m/fold_0/slice_classifier.pth"])
    assert [choose_backend(None, [path], "cpu") for path in (with_onnx, without, with_classifier)] == \
        ["onnxruntime", "torch", "torch"]


def test_a_gpu_or_a_missing_onnx_runtime_keeps_torch(folders, monkeypatch):
    onnx = folders[0]
    monkeypatch.setattr(backend_choice, "resolve_device", lambda device: type("Device", (), {"type": "cuda"})())
    assert choose_backend(None, [onnx], "auto") == "torch"
    monkeypatch.undo()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert choose_backend(None, [onnx], "cpu") == "torch"
