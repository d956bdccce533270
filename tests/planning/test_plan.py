from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from covplan.errors import CovplanError
from covplan.planning import plan_dataset
from covplan.planning.planner import MemoryTargetTooSmall
from tests.fake_plugins import FakeNet, Registers, WidePlainNet
from tests.raw_datasets import write_raw_dataset

NNUNET_PLANS = """
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments
if __name__ == "__main__":
    extract_fingerprints([501], num_processes=1)
    plan_experiments([501])
"""


def _plans(path: Path) -> dict:
    return json.loads(path.read_text())



def test_plain_unet_plans_equal_nnunetv2s_own(planned_3d: Path, raw_3d: Path, tmp_path: Path):
    environment = {**os.environ, "nnUNet_raw": str(raw_3d.parent), "nnUNet_preprocessed": str(tmp_path),
                   "nnUNet_results": str(tmp_path / "results")}
    subprocess.run([sys.executable, "-c", NNUNET_PLANS], env=environment, check=True, capture_output=True)
    nnunet = _plans(tmp_path / raw_3d.name / "nnUNetPlans.json")
    ours = _plans(planned_3d / "plans_plain_unet.json")

    assert _plans(tmp_path / raw_3d.name / "dataset_fingerprint.json") == \
        _plans(planned_3d / "dataset_fingerprint.json")
    assert set(ours["configurations"]) == set(nnunet["configurations"]) == {"2d", "3d_fullres"}
    for name, configuration in nnunet["configurations"].items():
        ours_configuration = dict(ours["configurations"][name])
        # Only the data folder's name differs: architectures with equal preprocessing share one.
        assert ours_configuration.pop("data_identifier").startswith(f"covplan_{name}_")
        configuration.pop("data_identifier")
        assert ours_configuration == configuration, name
    for key in ("transpose_forward", "transpose_backward", "original_median_spacing_after_transp",
                "foreground_intensity_properties_per_channel", "image_reader_writer"):
        assert ours[key] == nnunet[key], key
    assert ours["plans_name"] == "plans_plain_unet" and ours["covplan"]["architecture"] == "plain_unet"


def test_work_folder_layout(planned_3d: Path, raw_3d: Path):
    names = {path.name for path in planned_3d.iterdir()}
    assert names == {"dataset.json", "covplan_dataset.json", "dataset_fingerprint.json", "plans_plain_unet.json",
                     "splits_final.json", "covplan_work.json"}
    splits = _plans(planned_3d / "splits_final.json")
    assert len(splits) == 5
    assert sorted(case for split in splits for case in split["val"]) == [f"case_{i:03d}" for i in range(8)]
    # p1 owns case_000 and case_001, p2 owns case_002 and case_003 (tests/tiny_datasets.py).
    for split in splits:
        assert {"case_000", "case_001"} <= set(split["val"]) or {"case_000", "case_001"} <= set(split["train"])
        assert {"case_002", "case_003"} <= set(split["val"]) or {"case_002", "case_003"} <= set(split["train"])


def test_heavier_network_gets_a_smaller_patch_under_the_same_budget(raw_3d: Path, fingerprinted_work: Path,
                                                                    register_plugin):
    register_plugin(Registers(WidePlainNet("fake_same", 1), WidePlainNet("fake_wide", 3)), "undo-wide")

    written = plan_dataset(raw_3d, fingerprinted_work, ["plain_unet", "fake_same", "fake_wide"],
                           configurations=["3d_fullres"], gpu_memory_gb=0.06, num_processes=1)

    plans = {name: _plans(path)["configurations"]["3d_fullres"] for name, path in written.items()}
    voxels = {name: np.prod(plan["patch_size"]) * plan["batch_size"] for name, plan in plans.items()}
    assert voxels["fake_wide"] < voxels["fake_same"] == voxels["plain_unet"] < 24 * 40 * 32 * 2
    assert plans["fake_same"]["patch_size"] == plans["plain_unet"]["patch_size"]
    # Equal preprocessing: one shared data folder.
    assert len({plan["data_identifier"] for plan in plans.values()}) == 1
    explanation = _plans(written["fake_wide"])["covplan"]["explanation"]["3d_fullres"]
    ratio_line = next(line for line in explanation if line.startswith("memory:"))
    assert "'fake_wide' measured vs plain_unet" in ratio_line and " x 1.00 " not in ratio_line


def test_every_plans_file_loads_in_nnunet_and_builds_every_network(raw_3d: Path, raw_2d: Path, fingerprinted_work: Path,
                                                                   planned_2d: Path, tmp_path: Path,
                                                                   register_plugin):
    register_plugin(Registers(WidePlainNet("fake_same", 1), FakeNet()), "undo-fakes")
    written_3d = plan_dataset(raw_3d, fingerprinted_work, ["plain_unet", "fake_same", "fake_net"],
                              num_processes=1)
    work_2d = tmp_path / "work2d"
    shutil.copytree(planned_2d, work_2d)
    written_2d = plan_dataset(raw_2d, work_2d, ["plain_unet", "fake_net"], num_folds=3, num_processes=1)

    assert set(_plans(written_3d["fake_net"])["configurations"]) == {"2d"}  # a 2D-only plugin
    assert set(_plans(written_2d["plain_unet"])["configurations"]) == {"2d"}  # 2D data
    for path in [*written_3d.values(), *written_2d.values()]:
        manager = PlansManager(str(path))
        for name in manager.available_configurations:
            configuration = manager.get_configuration(name)
            network = get_network_from_plans(configuration.network_arch_class_name,
                                             configuration.network_arch_init_kwargs,
                                             configuration.network_arch_init_kwargs_req_import, 1, 3,
                                             deep_supervision=False)
            with torch.no_grad():
                logits = network(torch.zeros(1, 1, *configuration.patch_size))
            assert logits.shape == (1, 3, *configuration.patch_size), (path.name, name)


def test_memory_target_too_small_names_the_minimum_that_works(raw_3d: Path, fingerprinted_work: Path):
    with pytest.raises(MemoryTargetTooSmall, match=r"use --gpu-memory ([0-9.]+) or more") as raised:
        plan_dataset(raw_3d, fingerprinted_work, ["plain_unet"], configurations=["3d_fullres"],
                     gpu_memory_gb=1e-6, num_processes=1)
    minimum = float(str(raised.value).split("--gpu-memory ")[1].split()[0])
    assert not (fingerprinted_work / "plans_plain_unet.json").exists()

    written = plan_dataset(raw_3d, fingerprinted_work, ["plain_unet"], configurations=["3d_fullres"],
                           gpu_memory_gb=minimum, num_processes=1)
    assert _plans(written["plain_unet"])["configurations"]["3d_fullres"]["batch_size"] == 2


def test_work_of_another_dataset_is_refused_and_left_alone(planned_3d: Path, raw_2d: Path):
    before = {path.name: path.read_bytes() for path in planned_3d.iterdir()}
    with pytest.raises(CovplanError, match="holds plans of another dataset"):
        plan_dataset(raw_2d, planned_3d, ["plain_unet"], num_processes=1)
    assert {path.name: path.read_bytes() for path in planned_3d.iterdir()} == before


def test_unknown_architecture_lists_the_known_ones(raw_3d: Path, tmp_path: Path):
    with pytest.raises(CovplanError, match="unknown architecture 'qchc_unte'; known: .*plain_unet"):
        plan_dataset(raw_3d, tmp_path / "work", ["qchc_unte"])
    assert not (tmp_path / "work").exists()


def test_foreign_folder_is_refused(raw_3d: Path, tmp_path: Path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "notes.txt").write_text("mine")
    with pytest.raises(CovplanError, match="not empty and was not written by `covplan plan`"):
        plan_dataset(raw_3d, work_dir, ["plain_unet"])
    assert [path.name for path in work_dir.iterdir()] == ["notes.txt"]


def test_a_3d_only_architecture_on_2d_data_is_refused(raw_2d: Path, planned_2d: Path, tmp_path: Path,
                                                       register_plugin):
    only_3d = WidePlainNet("fake_3d_only", 1)
    only_3d.dims = (3,)
    register_plugin(Registers(only_3d), "undo-3d-only")
    work_dir = tmp_path / "work2d"
    shutil.copytree(planned_2d, work_dir)

    with pytest.raises(CovplanError, match=r"architecture 'fake_3d_only' \(3D\) has no configuration for this "
                                           r"dataset: nnU-Net planned 2d"):
        plan_dataset(raw_2d, work_dir, ["plain_unet", "fake_3d_only"], num_folds=3, num_processes=1)
    assert json.loads((work_dir / "plans_plain_unet.json").read_text()) == \
        json.loads((planned_2d / "plans_plain_unet.json").read_text())  # nothing half-written


def test_cases_far_apart_in_pixel_spacing_are_warned_about_at_planning(caplog):
    from covplan.planning.plan import warn_about_spacing_spread

    warn_about_spacing_spread(Path("slices"), {"spacings": [[999.0, 1.0, 1.0], [999.0, 0.9, 0.9]]})
    assert caplog.text == ""
    warn_about_spacing_spread(Path("slices"), {"spacings": [[999.0, 1.0, 1.0], [999.0, 11.25, 11.25]]})
    assert ("slices: in-plane pixel spacing ranges from 1 to 11.25 mm over the cases, so at one planned spacing some "
            "cases become 11x as many pixels a side as others") in caplog.text
    assert "`covplan convert slices --pixel-spacing MM`" in caplog.text
@pytest.mark.parametrize("label_kind, architectures, loss, refused", [
    ("unlabelled_slices", ["coarse_refine"], None,
     "loss 'hybrid_bce_ssim_iou' cannot train on this dataset's labels: its SSIM term compares 11 x 11 windows, "
     "which unlabelled pixels would corrupt; it is the default loss of architecture 'coarse_refine'"),
    ("regions", ["plain_unet", "qchc_unet"], None,
     "loss 'tversky_ce' cannot train on this dataset's labels: its categorical cross-entropy needs one label per "
     "voxel, and regions overlap; it is the default loss of architecture 'qchc_unet'"),
    ("regions", ["plain_unet"], "tversky_ce",
     "loss 'tversky_ce' cannot train on this dataset's labels: its categorical cross-entropy needs one label per "
     "voxel, and regions overlap; train with --loss dice_ce"),
])
def test_labels_a_loss_cannot_train_are_refused_before_anything_is_written(label_kind, architectures, loss, refused,
                                                                          tmp_path: Path):
    raw = write_raw_dataset(tmp_path / "Dataset503_Labels", num_cases=3, shape_zyx=(64, 64), **{label_kind: True})
    with pytest.raises(CovplanError) as error:
        plan_dataset(raw, tmp_path / "work", architectures, num_processes=1, loss=loss)
    assert str(error.value).startswith(f"{raw / 'dataset.json'}: {refused}")
    assert not (tmp_path / "work").exists()


def test_a_dataset_with_regions_and_an_ignore_label_plans_for_plain_unet(tmp_path: Path):
    raw = write_raw_dataset(tmp_path / "Dataset504_Both", num_cases=3, shape_zyx=(64, 64), regions=True,
                            unlabelled_slices=True)
    plans_file = plan_dataset(raw, tmp_path / "work", ["plain_unet"], num_folds=3, num_processes=1)["plain_unet"]
    plans = json.loads(plans_file.read_text())
    assert list(plans["configurations"]) == ["2d"]
