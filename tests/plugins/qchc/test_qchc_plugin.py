"""The covplan-qchc distribution as a user installs it: found through its entry point,
rebuilt by nnU-Net from a covplan plan, with the paper's optimiser and feature range."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from torch.optim.lr_scheduler import ReduceLROnPlateau

from covplan.architectures.base import architectures, get_architecture
from covplan.architectures.example_plans import unet_plan
from tests.architectures.topologies import PLANS


def test_found_through_its_entry_point():
    (entry_point,) = [e for e in entry_points(group="covplan") if e.name == "qchc"]
    assert entry_point.value == "covplan_qchc"
    assert entry_point.dist.name == "covplan-qchc"
    registered = architectures()["qchc_unet"]
    assert registered.source.distribution == "covplan-qchc"
    assert registered.plugin.dims == (2, 3)
    assert registered.plugin.default_loss == "tversky_ce"


def test_nnunet_builds_it_from_a_plan_written_with_the_adapter():
    plugin = get_architecture("qchc_unet")
    plan = PLANS["3d_anisotropic"]
    plan = {**plan, "architecture": plugin.nnunet_architecture(plan)}
    architecture = plan["architecture"]
    network = get_network_from_plans(architecture["network_class_name"], architecture["arch_kwargs"],
                                     architecture["_kw_requires_import"], 1, 3, deep_supervision=False)
    direct = plugin.build_network(plan, 1, 3)
    assert type(network) is type(direct)
    assert [p.shape for p in network.parameters()] == [p.shape for p in direct.parameters()]
    assert network(torch.randn(1, 1, *plan["patch_size"])).shape == (1, 3, *plan["patch_size"])


def test_paper_optimiser_adam_1e_4_with_reduce_on_plateau():
    plugin = get_architecture("qchc_unet")
    network = plugin.build_network(PLANS["2d_odd_bottleneck"], 1, 3)
    optimizer, scheduler = plugin.configure_optimizers(network, num_epochs=300)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 1e-4
    assert isinstance(scheduler, ReduceLROnPlateau) and scheduler.factor == 0.1
    optimizer, _ = plugin.configure_optimizers(network, num_epochs=300, initial_lr=1e-3)
    assert optimizer.defaults["lr"] == 1e-3


def test_planner_caps_features_at_the_papers_512():
    plugin = get_architecture("qchc_unet")
    assert (plugin.base_num_features, plugin.max_num_features) == (32, 512)


def test_memory_estimate_counts_the_network_and_grows_with_batch_and_patch():
    plugin = get_architecture("qchc_unet")
    plan = unet_plan([16, 16, 16], [[1, 1, 1], [2, 2, 2], [2, 2, 2]], base_num_features=4)
    one = plugin.estimate_memory(plan, 1, 3, batch_size=1)
    two = plugin.estimate_memory(plan, 1, 3, batch_size=2)
    bigger = plugin.estimate_memory({**plan, "patch_size": [32, 32, 32]}, 1, 3, batch_size=1)
    # At least the input-size activations of the 4 + 4 (cascade) level-0 channels, kept for backward.
    assert one > 8 * 16**3 * 4
    assert one < two < 2 * one and bigger > 4 * one


NNUNET_REBUILDS_FROM_PLANS_FILE = """
import sys
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

configuration = PlansManager(sys.argv[1]).get_configuration("3d_fullres")
network = get_network_from_plans(configuration.network_arch_class_name, configuration.network_arch_init_kwargs,
                                 configuration.network_arch_init_kwargs_req_import, 1, 3, deep_supervision=True)
outputs = network(torch.zeros(1, 1, *configuration.patch_size))
print(type(network).__module__, len(outputs), *outputs[0].shape)
"""


def test_nnunet_rebuilds_it_from_a_plans_file_in_a_fresh_interpreter(tmp_path):
    """Nothing imports covplan_qchc but nnU-Net's class lookup: the adapter finds the
    plugin through its entry point."""
    plan = PLANS["3d_odd_unpooled_axis"]
    configuration = {**plan, "architecture": get_architecture("qchc_unet").nnunet_architecture(plan)}
    plans_file = tmp_path / "plans.json"
    plans_file.write_text(json.dumps({"configurations": {"3d_fullres": configuration}}))
    result = subprocess.run([sys.executable, "-c", NNUNET_REBUILDS_FROM_PLANS_FILE, str(plans_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["covplan_qchc.network", "1", "1", "3", *map(str, plan["patch_size"])]
