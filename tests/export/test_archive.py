"""covplan export / import and prediction from an archive: the round trip keeps the labels,
ONNX Runtime agrees with torch, and every refusal names its fix."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from covplan.architectures.plain_unet import PlainUNet
from covplan.errors import CovplanError
from covplan.export import export_archive
from covplan.export.archive import MODEL_CARD_FILE, TRAINING_STATE_KEYS
from covplan.inference.archive_reader import MANIFEST_FILE, import_archive, read_manifest
from covplan.inference import PredictionSettings, predict
from tests.fake_plugins import Registers
from tests.input_images import dice

FAST = dict(use_mirroring=False, device="cpu", save_probabilities=True)


@pytest.fixture(scope="module")
def archive(trained_models, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("archive") / "spheres.zip"
    export_archive([trained_models["3d"]], target, onnx=True)
    return target


def labels(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ball.nii.gz")))


def probabilities(folder: Path) -> np.ndarray:
    return np.load(folder / "ball.npz")["probabilities"]


def rewrite_archive(source: Path, target: Path, change) -> Path:
    """A copy of ``source`` with ``change(name, data) -> data`` applied to every member."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            copy.writestr(name, change(name, original.read(name)))
    return target


def test_archive_holds_the_chosen_folds_plans_checksums_and_a_card(archive, trained_models):
    manifest = read_manifest(archive)
    [entry] = manifest["models"]
    assert entry["folder"] == trained_models["3d"].name and entry["folds"] == ["0", "1"]
    assert (entry["architecture"], entry["distribution"], entry["checkpoint"]) == ("plain_unet", "covplan", "final")
    assert set(entry["onnx"]) == {"0", "1"} and max(entry["onnx"].values()) < 1e-3
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        card = opened.read(MODEL_CARD_FILE).decode()
        checkpoint = torch.load(opened.open(f"{entry['folder']}/fold_0/checkpoint_final.pth"), weights_only=False)
    assert {f"{entry['folder']}/{name}" for name in ("plans.json", "dataset.json", "onnx.json",
                                                       "fold_0/network.onnx", "fold_1/checkpoint_final.pth")} <= names
    assert names - {MANIFEST_FILE} == set(manifest["files"])
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert "plain_unet from covplan" in card and "folds 0, 1" in card
    # Prediction needs the weights, not the optimiser: the archive leaves training state out.
    assert "network_weights" in checkpoint and not set(TRAINING_STATE_KEYS) & set(checkpoint)


def test_predicting_from_the_archive_gives_the_folders_labels(archive, trained_models, sphere_input, tmp_path):
    predict(sphere_input[0], tmp_path / "folder", [trained_models["3d"]], PredictionSettings(**FAST))
    predict(sphere_input[0], tmp_path / "archive", [archive], PredictionSettings(backend="torch", **FAST))
    assert (labels(tmp_path / "archive") == labels(tmp_path / "folder")).all()
    np.testing.assert_allclose(probabilities(tmp_path / "archive"), probabilities(tmp_path / "folder"), atol=1e-6)
    assert dice(labels(tmp_path / "archive"), sphere_input[1]) > 0.8


def test_onnx_runtime_agrees_with_torch(archive, sphere_input, tmp_path):
    predict(sphere_input[0], tmp_path / "torch", [archive], PredictionSettings(backend="torch", **FAST))
    predict(sphere_input[0], tmp_path / "onnx", [archive], PredictionSettings(backend="onnxruntime", **FAST))
    assert dice(labels(tmp_path / "onnx"), labels(tmp_path / "torch")) >= 0.99
    np.testing.assert_allclose(probabilities(tmp_path / "onnx"), probabilities(tmp_path / "torch"), atol=1e-3)


def test_onnx_runtime_is_the_default_for_an_onnx_archive_and_needs_no_plugin(archive, sphere_input, tmp_path,
                                                                             monkeypatch):
    # As on a machine without the architecture's distribution: looking it up fails.
    import covplan.inference.model_loading as model_loading
    import covplan.inference.predictor as predictor

    def no_plugin(name):
        raise AssertionError(f"looked up the plugin {name}")

    for module in (model_loading, predictor):
        monkeypatch.setattr(module, "get_architecture", no_plugin)
    predict(sphere_input[0], tmp_path / "onnx", [archive], PredictionSettings(**FAST))  # no --backend
    assert labels(tmp_path / "onnx").shape == sphere_input[1].shape


def test_import_unpacks_a_model_folder_that_predicts_the_same(archive, trained_models, sphere_input, tmp_path):
    [folder] = import_archive(archive, tmp_path / "models")
    assert folder == tmp_path / "models" / trained_models["3d"].name
    assert (tmp_path / "models" / MODEL_CARD_FILE).is_file()
    predict(sphere_input[0], tmp_path / "imported", [folder], PredictionSettings(**FAST))
    predict(sphere_input[0], tmp_path / "archive", [archive], PredictionSettings(**FAST))
    assert (labels(tmp_path / "imported") == labels(tmp_path / "archive")).all()
    with pytest.raises(CovplanError, match="already exists"):
        import_archive(archive, tmp_path / "models")


def test_a_missing_plugin_is_named_with_its_distribution(archive, sphere_input, tmp_path):
    def rename_architecture(name: str, data: bytes) -> bytes:
        if name != MANIFEST_FILE:
            return data
        manifest = json.loads(data)
        manifest["models"][0].update(architecture="lung_former", distribution="covplan-lungformer", version="2.1")
        return json.dumps(manifest).encode()

    changed = rewrite_archive(archive, tmp_path / "changed.zip", rename_architecture)
    with pytest.raises(CovplanError, match=r"'lung_former' from the distribution covplan-lungformer 2.1, which is "
                                           r"not installed; pip install 'covplan-lungformer==2.1'"):
        predict(sphere_input[0], tmp_path / "out", [changed], PredictionSettings(backend="torch", **FAST))
    assert not (tmp_path / "out").exists()


def test_an_archive_of_a_newer_covplan_is_refused(archive, tmp_path):
    def newer(name: str, data: bytes) -> bytes:
        return json.dumps({**json.loads(data), "format_version": 99}).encode() if name == MANIFEST_FILE else data

    with pytest.raises(CovplanError, match="archive format 99.*upgrade covplan"):
        read_manifest(rewrite_archive(archive, tmp_path / "newer.zip", newer))


def test_a_damaged_archive_is_refused_by_its_checksums(archive, sphere_input, tmp_path):
    def flip_a_weight(name: str, data: bytes) -> bytes:
        if not name.endswith("fold_0/network.onnx"):
            return data
        return data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]

    damaged = rewrite_archive(archive, tmp_path / "damaged.zip", flip_a_weight)
    with pytest.raises(CovplanError, match=r"damaged archive \(checksum of .*fold_0/network.onnx does not match\)"):
        predict(sphere_input[0], tmp_path / "out", [damaged], PredictionSettings(**FAST))
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(CovplanError, match="damaged archive"):
        import_archive(truncated, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_an_input_of_the_wrong_intensity_domain_is_refused(trained_models, tmp_path):
    model = Path(shutil.copytree(trained_models["3d"], tmp_path / "work" / trained_models["3d"].name))
    (model / "covplan_dataset.json").write_text(json.dumps({"format_version": 1, "intensity_domain": "hu"}))
    archive = tmp_path / "hu_model.zip"
    export_archive([model], archive)
    grey = tmp_path / "grey" / "scan_0000.nii.gz"
    grey.parent.mkdir()
    sitk.WriteImage(sitk.GetImageFromArray(np.full((20, 24, 24), 120, np.uint8)), str(grey))
    result = predict(grey.parent, tmp_path / "out", [archive], PredictionSettings(**FAST))
    assert "the image is 8-bit grey but the model" in result.failed["scan"]


def test_export_refuses_a_name_without_zip_and_an_existing_archive(trained_models, archive, tmp_path):
    with pytest.raises(CovplanError, match="ends in .zip"):
        export_archive([trained_models["3d"]], tmp_path / "model.tar")
    with pytest.raises(CovplanError, match="already exists"):
        export_archive([trained_models["3d"]], archive)


class UnexportableUNet(PlainUNet):
    """plain_unet's network, declared unexportable."""

    name = "unexportable_unet"
    onnx_unsupported = "its attention uses a custom CUDA kernel"


def test_an_architecture_that_cannot_export_says_why(trained_models, register_plugin, tmp_path):
    register_plugin(Registers(UnexportableUNet()), "undo-unexportable")
    model = Path(shutil.copytree(trained_models["3d"], tmp_path / "work" / "unexportable_unet__3d_fullres"))
    plans = json.loads((model / "plans.json").read_text())
    plans["covplan"]["architecture"] = "unexportable_unet"
    (model / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(CovplanError, match="'unexportable_unet' .* cannot be exported to ONNX \\(its attention uses "
                                           "a custom CUDA kernel\\); export without --onnx"):
        export_archive([model], tmp_path / "model.zip", onnx=True)
    assert not (tmp_path / "model.zip").exists()
    export_archive([model], tmp_path / "model.zip")  # without --onnx it ships
