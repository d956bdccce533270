"""The memory a case needs, estimated before predicting it, and a case that cannot fit
refused in one line with the figures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager

from covplan.errors import CovplanError
from covplan.inference import case_memory
from covplan.inference.case_memory import GB, CaseShape, case_memory_bytes, refuse_if_memory_short
from covplan.inference.predict import PredictionSettings, predict

# The CT of issue 29: 1024 x 1024 x 600 (629 M voxels, 2.5 GB as float32).
BIG_CT = CaseShape((600, 1024, 1024), (1.25, 0.4, 0.4), 1)
ANISOTROPIC = [2.5, 0.8, 0.8]  # z over 3x the in-plane spacing: nnU-Net resamples slices apart


def model(spacing: list[float], classes: int = 3) -> SimpleNamespace:
    configuration = ConfigurationManager({
        "architecture": {}, "spacing": spacing, "patch_size": [96, 160, 160],
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}})
    return SimpleNamespace(plans_manager=SimpleNamespace(transpose_forward=[0, 1, 2]), configuration_manager=configuration,
                           label_manager=SimpleNamespace(num_segmentation_heads=classes))


def test_the_estimate_grows_with_what_is_kept_on_the_input_grid():
    in_slabs = case_memory_bytes(BIG_CT, [model(ANISOTROPIC)], labels_only=True)
    whole = case_memory_bytes(CaseShape(BIG_CT.shape, (0.4, 0.4, 0.4), 1), [model([0.8, 0.8, 0.8])],
                              labels_only=True)
    probabilities = case_memory_bytes(BIG_CT, [model(ANISOTROPIC)], labels_only=False)
    assert 2.5 * GB < in_slabs < 6 * GB < whole < probabilities
    assert case_memory_bytes(BIG_CT, [model(ANISOTROPIC, classes=6)], labels_only=False) > probabilities


def test_a_case_that_cannot_fit_is_refused_with_the_figures(monkeypatch):
    monkeypatch.setattr(case_memory, "available_memory_bytes", lambda: 3 * GB)
    with pytest.raises(CovplanError) as refused:
        refuse_if_memory_short("ct.nii.gz", BIG_CT, [model(ANISOTROPIC)], labels_only=False)
    message = str(refused.value)
    needed = case_memory_bytes(BIG_CT, [model(ANISOTROPIC)], labels_only=False)
    assert message.startswith(f"ct.nii.gz: predicting this 600 x 1024 x 1024 image needs about {needed / GB:.1f} GB")
    assert "3.0 GB are available" in message and "-f 0" in message and "\n" not in message


@pytest.mark.parametrize("available", [1e15, None])
def test_a_case_that_fits_or_an_unknown_memory_goes_on(available, monkeypatch):
    monkeypatch.setattr(case_memory, "available_memory_bytes", lambda: available)
    refuse_if_memory_short("ct.nii.gz", BIG_CT, [model(ANISOTROPIC)], labels_only=True)


def test_the_available_memory_is_linuxs_memavailable(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       23000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n")
    monkeypatch.setattr(case_memory, "MEMINFO", meminfo)
    assert case_memory.available_memory_bytes() == 20000000 * 1024
    monkeypatch.setattr(case_memory, "MEMINFO", tmp_path / "absent")
    assert case_memory.available_memory_bytes() is None


def test_predict_refuses_the_case_before_predicting_it(trained_models, sphere_input, tmp_path, monkeypatch):
    monkeypatch.setattr(case_memory, "available_memory_bytes", lambda: 1e3)
    result = predict(sphere_input[0], tmp_path / "out", [trained_models["3d"]], PredictionSettings(folds=[0]))
    assert list(result.failed) == ["ball"] and "GB are available" in result.failed["ball"]
    assert not (tmp_path / "out").exists()
