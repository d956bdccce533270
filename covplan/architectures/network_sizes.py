"""How large an architecture's networks are: the parameter count of each network it
builds for the reference plans (what ``covplan plugins --verbose`` lists)."""

from __future__ import annotations

from typing import Any

from covplan.architectures.base import ArchitecturePlugin
from covplan.architectures.example_plans import describe_plan, reference_plan
from covplan.architectures.memory import on_meta_device

# What the reference networks are built for.
COUNTED_INPUT_CHANNELS = 1
COUNTED_CLASSES = 3


def parameter_count(plugin: ArchitecturePlugin, plan: dict[str, Any], num_input_channels: int = 1,
                    num_classes: int = 3) -> int:
    """Trainable parameters of ``plugin``'s network for ``plan``. The network is built
    on the meta device: nothing is allocated or initialised, so even a large 3D network
    is counted in a moment."""
    with on_meta_device():
        network = plugin.build_network(plan, num_input_channels, num_classes)
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


def network_sizes(plugin: ArchitecturePlugin) -> list[dict[str, Any]]:
    """Parameter count of ``plugin``'s network for the reference plan of each
    dimensionality it supports (see :func:`reference_plan`), with that plan described.
    A plugin that fails to build is reported with its error, not raised: one broken
    network must not hide the others."""
    sizes = []
    for dims in plugin.dims:
        plan = reference_plan(dims, plugin.base_num_features, plugin.max_num_features)
        size: dict[str, Any] = {"dims": dims, "plan": describe_plan(plan)}
        try:
            size["parameters"] = parameter_count(plugin, plan, COUNTED_INPUT_CHANNELS, COUNTED_CLASSES)
        except Exception as error:  # a third party's network bug must not stop the listing
            size["error"] = f"{type(error).__name__}: {error}"
        sizes.append(size)
    return sizes
