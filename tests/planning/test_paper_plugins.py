"""The planner with the real paper plugins (not fakes), on converted demo phantoms and on the
50 real COVID-SemiSeg slices: every plans file loads in nnU-Net and every network it names
is built by nnU-Net and runs on the planned patch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from covplan.cli import cli
from covplan.planning import plan_dataset
from tests.paths import SHARED_DATA

PAPER_ARCHITECTURES = ("plain_unet", "qchc_unet", "coarse_refine")
REAL_SLICES = SHARED_DATA / "covid_semiseg_train"


def run_cli(*arguments: str) -> None:
    result = CliRunner().invoke(cli, list(arguments))
    assert result.exit_code == 0, result.output


def check_plans_in_nnunet(plans_file: Path, num_input_channels: int, num_classes: int) -> dict[str, list[int]]:
    """Build every configuration's network the way nnU-Net does and run one batch of the
    planned patch; returns the patch size per configuration."""
    manager = PlansManager(str(plans_file))
    patches = {}
    for name in manager.available_configurations:
        configuration = manager.get_configuration(name)
        network = get_network_from_plans(configuration.network_arch_class_name,
                                         configuration.network_arch_init_kwargs,
                                         configuration.network_arch_init_kwargs_req_import,
                                         num_input_channels, num_classes, deep_supervision=False)
        with torch.no_grad():
            output = network.eval()(torch.zeros(1, num_input_channels, *configuration.patch_size))
        assert output.shape == (1, num_classes, *configuration.patch_size), (plans_file.name, name)
        patches[name] = list(configuration.patch_size)
    return patches


@pytest.mark.slow
def test_demo_volumes_are_planned_for_every_paper_architecture(tmp_path):
    raw, dataset = tmp_path / "raw", tmp_path / "dataset"
    run_cli("demo-data", str(raw), "--kind", "ct3d", "--cases", "5")
    run_cli("convert", "covid-ct-seg", str(raw), str(dataset))
    plans = plan_dataset(dataset, tmp_path / "work", PAPER_ARCHITECTURES, num_processes=1)
    configurations = {name: set(json.loads(path.read_text())["configurations"]) for name, path in plans.items()}
    assert configurations == {"plain_unet": {"2d", "3d_fullres"}, "qchc_unet": {"2d", "3d_fullres"},
                              "coarse_refine": {"2d"}}  # coarse_refine is 2D only
    for name, path in plans.items():
        check_plans_in_nnunet(path, 1, 3)
        assert json.loads(path.read_text())["covplan"]["architecture"] == name


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SLICES.is_dir(), reason=f"real slices not found at {REAL_SLICES}")
def test_the_50_real_slices_are_planned_for_plain_unet_and_coarse_refine(tmp_path):
    dataset = tmp_path / "dataset"
    run_cli("convert", "slices", str(REAL_SLICES), str(dataset))
    plans = plan_dataset(dataset, tmp_path / "work", ("plain_unet", "coarse_refine"), num_processes=1)
    patches = {name: check_plans_in_nnunet(path, 1, 3) for name, path in plans.items()}
    # nnU-Net's own 2d plan for these slices (the brief's figure), and a smaller one for the
    # heavier coarse-refine network under the same memory target.
    assert patches["plain_unet"] == {"2d": [448, 384]}
    coarse = patches["coarse_refine"]["2d"]
    assert coarse[0] * coarse[1] <= 448 * 384
    splits = json.loads((tmp_path / "work" / "splits_final.json").read_text())
    assert len(splits) == 5 and sum(len(fold["val"]) for fold in splits) == 50
