"""``plain_unet``: nnU-Net's default U-Net, registered like any third-party plugin."""

from __future__ import annotations

from typing import Any

from torch import nn

from covplan.architectures.base import ArchitecturePlugin
from covplan.hookspecs import hookimpl

PLAIN_CONV_UNET = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
# Keys of nnU-Net's arch_kwargs that name a class by dotted path.
CLASS_KWARGS = ["conv_op", "norm_op", "dropout_op", "nonlin"]


class PlainUNet(ArchitecturePlugin):
    """nnU-Net's default U-Net (PlainConvUNet from dynamic-network-architectures)."""

    name = "plain_unet"
    dims = (2, 3)
    default_loss = "dice_ce"

    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        architecture = plan["architecture"]
        return get_network_from_plans(
            architecture["network_class_name"], architecture["arch_kwargs"], architecture["_kw_requires_import"],
            num_input_channels, num_classes, allow_init=True, deep_supervision=deep_supervision,
        )

    def nnunet_architecture(self, plan: dict[str, Any]) -> dict[str, Any]:
        """PlainConvUNet with the planned topology, exactly as nnU-Net's own planner
        writes it, so nnU-Net needs nothing of covplan to rebuild it."""
        return {
            "network_class_name": PLAIN_CONV_UNET,
            "arch_kwargs": dict(plan["architecture"]["arch_kwargs"]),
            "_kw_requires_import": list(CLASS_KWARGS),
        }


@hookimpl
def register_architectures(register):
    register(PlainUNet())
