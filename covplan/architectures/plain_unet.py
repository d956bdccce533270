"""``plain_unet`` and ``resenc_unet``: nnU-Net's default U-Net and its residual-encoder
variant, registered like any third-party plugin.

Both are built by nnunetv2's ``get_network_from_plans`` from the class dynamic-network-
architectures provides, so a plans file written by covplan names that class directly and
nnU-Net rebuilds the network without covplan.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from covplan.architectures.base import ArchitecturePlugin
from covplan.hookspecs import hookimpl

PLAIN_CONV_UNET = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESIDUAL_ENCODER_UNET = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
# Keys of nnU-Net's arch_kwargs that name a class by dotted path.
CLASS_KWARGS = ["conv_op", "norm_op", "dropout_op", "nonlin"]
# nnU-Net's ResEnc planners (nnUNetPlannerResEncM/L/XL): residual blocks per encoder
# stage, one convolution per decoder stage, cut to the number of stages.
RESENC_BLOCKS_PER_STAGE = (1, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6)
RESENC_CONVS_PER_DECODER_STAGE = 1


def build_nnunet_network(architecture: dict[str, Any], num_input_channels: int, num_classes: int,
                         deep_supervision: bool) -> nn.Module:
    """Build and initialise the network a plans ``architecture`` entry names, exactly as
    nnU-Net's trainer does."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    return get_network_from_plans(
        architecture["network_class_name"], architecture["arch_kwargs"], architecture["_kw_requires_import"],
        num_input_channels, num_classes, allow_init=True, deep_supervision=deep_supervision,
    )


def nnunet_architecture_entry(network_class_name: str, topology: dict[str, Any]) -> dict[str, Any]:
    """A plans ``architecture`` entry naming a dynamic-network-architectures class."""
    return {"network_class_name": network_class_name, "arch_kwargs": topology,
            "_kw_requires_import": list(CLASS_KWARGS)}


class PlainUNet(ArchitecturePlugin):
    """nnU-Net's default U-Net (PlainConvUNet from dynamic-network-architectures)."""

    name = "plain_unet"

    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        return build_nnunet_network(self.nnunet_architecture(plan), num_input_channels, num_classes,
                                    deep_supervision)

    def nnunet_architecture(self, plan: dict[str, Any]) -> dict[str, Any]:
        """PlainConvUNet with the planned topology, exactly as nnU-Net's own planner
        writes it, so nnU-Net needs nothing of covplan to rebuild it."""
        return nnunet_architecture_entry(PLAIN_CONV_UNET, dict(plan["architecture"]["arch_kwargs"]))


class ResEncUNet(ArchitecturePlugin):
    """nnU-Net's residual-encoder U-Net (ResidualEncoderUNet, as the ResEnc planners configure it)."""

    name = "resenc_unet"

    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        return build_nnunet_network(self.nnunet_architecture(plan), num_input_channels, num_classes,
                                    deep_supervision)

    def nnunet_architecture(self, plan: dict[str, Any]) -> dict[str, Any]:
        """ResidualEncoderUNet with the planned stages, kernels, strides and features and
        the block counts of nnU-Net's ResEnc planners (1, 3, 4, 6, 6, ... residual blocks
        per encoder stage, one convolution per decoder stage) in place of PlainConvUNet's
        ``n_conv_per_stage``. A topology that already names ``n_blocks_per_stage`` (a
        ResEnc plan) keeps its own counts."""
        topology = dict(plan["architecture"]["arch_kwargs"])
        if "n_blocks_per_stage" not in topology:
            n_stages = topology["n_stages"]
            topology.pop("n_conv_per_stage", None)
            topology["n_blocks_per_stage"] = list(RESENC_BLOCKS_PER_STAGE[:n_stages])
            topology["n_conv_per_stage_decoder"] = [RESENC_CONVS_PER_DECODER_STAGE] * (n_stages - 1)
        return nnunet_architecture_entry(RESIDUAL_ENCODER_UNET, topology)


@hookimpl
def register_architectures(register):
    register(PlainUNet())
    register(ResEncUNet())
