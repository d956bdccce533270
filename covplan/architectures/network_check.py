"""Building and running a plugin's network once before any work, on one patch on the meta
device (shapes only: nothing is allocated or computed): a network that cannot be built,
or whose outputs do not fit the dataset, is refused with one line naming the plugin and
its distribution, not found by a traceback deep in planning or by a shape error after the
first epoch."""

from __future__ import annotations

from typing import Any

import torch

from covplan.architectures.base import architectures
from covplan.architectures.example_plans import reference_plan
from covplan.architectures.memory import on_meta_device
from covplan.registry import PluginError


def _shapes(output: Any) -> list[tuple[int, ...]] | None:
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    if not outputs or not all(isinstance(item, torch.Tensor) for item in outputs):
        return None
    return [tuple(item.shape) for item in outputs]


def _describe(shapes: list[tuple[int, ...]] | None, deep_supervision: bool) -> str:
    if shapes is None:
        return "something other than tensors"
    return f"{'outputs' if deep_supervision else 'an output'} of shape {', '.join(map(str, shapes))}"


def check_network(architecture: str, plan: dict[str, Any], num_input_channels: int, num_classes: int) -> None:
    """Build ``architecture``'s network for ``plan`` with and without deep supervision and
    run it on one patch of the plan; refuse (:class:`PluginError`) a build that raises, a
    forward pass that raises, or outputs other than ``num_classes`` maps of the patch's
    shape (the first of them, with deep supervision)."""
    registered = architectures()[architecture]
    who = f"architecture '{architecture}' ({registered.provider})"
    fix = "fix or update the plugin, or choose another architecture"
    spatial = [int(size) for size in plan["patch_size"]]
    expected = (1, num_classes, *spatial)
    for deep_supervision in (False, True):
        try:
            # On the meta device, as the planner measures memory: even a large 3D network
            # and patch are checked in a moment.
            with on_meta_device(), torch.no_grad():
                network = registered.plugin.build_network(plan, num_input_channels, num_classes,
                                                          deep_supervision=deep_supervision)
                output = network.eval()(torch.zeros(1, num_input_channels, *spatial))
        except Exception as error:  # a third party's network: any failure is the plugin's
            raise PluginError(f"{who}: building or running its network (deep_supervision={deep_supervision}) on "
                              f"an input of {(1, num_input_channels, *spatial)} raised {type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}; {fix}") from error
        shapes = _shapes(output)
        fits = shapes is not None and (len(shapes) == 1 or deep_supervision) and shapes[0] == expected and all(
            shape[:2] == (1, num_classes) for shape in shapes)
        if not fits:
            raise PluginError(f"{who}: its network (deep_supervision={deep_supervision}) returned "
                              f"{_describe(shapes, deep_supervision)} for an input of "
                              f"{(1, num_input_channels, *spatial)}; expected {expected} ({num_classes} classes"
                              f"{', full resolution first' if deep_supervision else ''}); {fix}")


def check_networks_for_planning(architecture_names: list[str], dims: set[int], num_input_channels: int,
                                num_classes: int) -> None:
    """:func:`check_network` on the reference plan of each of ``dims`` the architecture
    supports: before planning, no plan of the dataset exists yet."""
    for name in architecture_names:
        plugin = architectures()[name].plugin
        for plugin_dims in sorted(dims & set(plugin.dims)):
            check_network(name, reference_plan(plugin_dims, plugin.base_num_features, plugin.max_num_features),
                          num_input_channels, num_classes)
