"""nnU-Net itself must rebuild plugin networks from covplan's plans."""

import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from covplan.architectures.plain_unet import PlainUNet
from tests.fake_plugins import FakeNet, Registers

TOPOLOGY_2D = {
    "n_stages": 3,
    "features_per_stage": [4, 8, 16],
    "conv_op": "torch.nn.modules.conv.Conv2d",
    "kernel_sizes": [[3, 3]] * 3,
    "strides": [[1, 1], [2, 2], [2, 2]],
    "n_conv_per_stage": [2, 2, 2],
    "n_conv_per_stage_decoder": [2, 2],
    "conv_bias": True,
    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
    "norm_op_kwargs": {"eps": 1e-05, "affine": True},
    "dropout_op": None,
    "dropout_op_kwargs": None,
    "nonlin": "torch.nn.LeakyReLU",
    "nonlin_kwargs": {"inplace": True},
}


def plan_2d() -> dict:
    return {"patch_size": [32, 24], "batch_size": 2, "spacing": [1.0, 1.0],
            "architecture": {"network_class_name": "ignored", "arch_kwargs": dict(TOPOLOGY_2D),
                             "_kw_requires_import": []}}


def build_like_nnunet(architecture: dict, deep_supervision: bool):
    return get_network_from_plans(architecture["network_class_name"], architecture["arch_kwargs"],
                                  architecture["_kw_requires_import"], 1, 3, deep_supervision=deep_supervision)


def test_adapter_builds_the_plugin_network_from_plans(register_plugin):
    register_plugin(Registers(FakeNet()), "fake")
    plan = plan_2d()
    architecture = FakeNet().nnunet_architecture(plan)
    assert architecture["network_class_name"] == "covplan.architectures.nnunet_adapter.build_plugin_network"
    assert architecture["arch_kwargs"]["strides"] == TOPOLOGY_2D["strides"]
    network = build_like_nnunet(architecture, deep_supervision=False)
    assert isinstance(network, torch.nn.Conv2d)
    assert network(torch.zeros(2, 1, 32, 24)).shape == (2, 3, 32, 24)


def test_adapter_passes_the_same_plan_the_plugin_was_planned_with(register_plugin):
    seen = []

    class Recording(FakeNet):
        name = "recording_net"

        def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
            seen.append((plan, deep_supervision))
            return super().build_network(plan, num_input_channels, num_classes, deep_supervision)

    register_plugin(Registers(Recording()), "recording")
    plan = plan_2d()
    plan["architecture"] = Recording().nnunet_architecture(plan)
    build_like_nnunet(plan["architecture"], deep_supervision=True)
    rebuilt_plan, deep_supervision = seen[0]
    assert rebuilt_plan == plan
    assert deep_supervision is True


def test_plain_unet_plans_name_dynamic_network_architectures_directly():
    plan = plan_2d()
    architecture = PlainUNet().nnunet_architecture(plan)
    assert architecture["network_class_name"] == "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    network = build_like_nnunet(architecture, deep_supervision=True)
    outputs = network(torch.zeros(2, 1, 32, 24))
    assert [tuple(o.shape) for o in outputs] == [(2, 3, 32, 24), (2, 3, 16, 12)]
    plan["architecture"] = architecture
    same = PlainUNet().build_network(plan, 1, 3)
    assert sum(p.numel() for p in same.parameters()) == sum(p.numel() for p in network.parameters())
