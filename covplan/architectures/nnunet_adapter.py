"""Lets nnU-Net build a covplan plugin's network from a covplan plans file.

nnU-Net locates ``network_class_name`` by its dotted path and calls it with
``input_channels``, ``num_classes``, the plan's ``arch_kwargs`` and, when it trains,
``deep_supervision``. For plugins that only implement ``build_network`` the plans name
:func:`build_plugin_network` (see ``ArchitecturePlugin.nnunet_architecture``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from covplan.architectures.base import NNUNET_ADAPTER, get_architecture


def build_plugin_network(input_channels: int, num_classes: int, covplan_architecture: str,
                         covplan_plan: dict[str, Any], deep_supervision: bool = False,
                         **topology: Any) -> nn.Module:
    """Build the network of the architecture plugin named ``covplan_architecture`` from
    the configuration it was planned with."""
    plugin = get_architecture(covplan_architecture)
    plan = {
        **covplan_plan,
        "architecture": {
            "network_class_name": NNUNET_ADAPTER,
            "arch_kwargs": {**topology, "covplan_architecture": covplan_architecture, "covplan_plan": covplan_plan},
            "_kw_requires_import": [],
        },
    }
    return plugin.build_network(plan, input_channels, num_classes, deep_supervision=deep_supervision)
