from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import covplan
from covplan.errors import CovplanError
from covplan.planning import Preset, get_preset, plan_dataset, presets


class RegistersPreset:
    @covplan.hookimpl
    def register_presets(self, register):
        register(Preset(name="tiny-2d", description="a plugin's own", target_spacing=(1.0, 1.0),
                        patch_size=(32, 32), batch_size=4, configurations=("2d",)))



def test_method_a_reproduces_the_published_configuration(raw_3d: Path, fingerprinted_work: Path):
    written = plan_dataset(raw_3d, fingerprinted_work, ["plain_unet"], preset="method-a", num_processes=1)

    plans = json.loads(written["plain_unet"].read_text())
    assert list(plans["configurations"]) == ["3d_fullres"]
    fullres = plans["configurations"]["3d_fullres"]
    # 1.58 x 1.58 x 2.70 mm and 160 x 160 x 80 voxels (x, y, z) in nnU-Net's (z, y, x) order.
    assert fullres["spacing"] == pytest.approx([2.70, 1.58, 1.58])
    assert fullres["patch_size"] == [80, 160, 160] and fullres["batch_size"] == 2
    assert fullres["normalization_schemes"] == ["ZScoreNormalization"] and fullres["use_mask_for_norm"] == [False]
    assert plans["covplan"]["preset"] == "method-a"
    strides = fullres["architecture"]["arch_kwargs"]["strides"]
    assert len(strides) == fullres["architecture"]["arch_kwargs"]["n_stages"]
    explanation = plans["covplan"]["explanation"]["3d_fullres"]
    assert any(line.startswith("batch size 2: preset method-a") for line in explanation)


def test_plugins_register_presets_and_unknown_names_list_the_known(register_plugin):
    register_plugin(RegistersPreset(), "undo-preset")
    assert set(presets()) == {"method-a", "tiny-2d"}
    assert get_preset("tiny-2d").batch_size == 4
    with pytest.raises(CovplanError, match="unknown preset 'method-b'; known: method-a, tiny-2d"):
        get_preset("method-b")


def test_a_plugins_2d_preset_sets_in_plane_spacing(raw_2d: Path, planned_2d: Path, tmp_path: Path,
                                                   register_plugin):
    register_plugin(RegistersPreset(), "undo-preset")
    work_dir = tmp_path / "work2d"
    shutil.copytree(planned_2d, work_dir)

    written = plan_dataset(raw_2d, work_dir, ["plain_unet"], preset="tiny-2d", num_folds=3, num_processes=1)

    configuration = json.loads(written["plain_unet"].read_text())["configurations"]["2d"]
    assert configuration["spacing"] == [1.0, 1.0]
    assert configuration["patch_size"] == [32, 32] and configuration["batch_size"] == 4


class BrokenPresetPlugin:
    @covplan.hookimpl
    def register_presets(self, register):
        raise RuntimeError("preset table missing")


def test_a_broken_preset_plugin_is_isolated_and_listed(register_plugin):
    from covplan.plugins import broken_plugins

    register_plugin(BrokenPresetPlugin(), "undo-broken-preset")
    assert set(presets()) == {"method-a"}
    assert any(b.plugin_name == "undo-broken-preset" and "preset table missing" in b.error for b in broken_plugins())


def test_a_preset_registered_twice_names_both_providers(register_plugin):
    register_plugin(RegistersPreset(), "undo-preset")
    register_plugin(RegistersPreset(), "undo-preset-again")
    with pytest.raises(CovplanError, match="preset 'tiny-2d' is registered twice: by <in-process undo-preset"):
        presets()
