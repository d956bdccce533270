"""The contract between covplan and a network architecture."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from covplan.architectures.memory import measure_training_memory, on_meta_device
from covplan.architectures.recipes import nnunet_sgd_poly
from covplan.architectures.slice_classifier import SliceClassifierRecipe
from covplan.plugin_base import NamedPlugin
from covplan.registry import PluginKind, Registered

# Where nnU-Net finds a plugin network: see covplan.architectures.nnunet_adapter.
NNUNET_ADAPTER = "covplan.architectures.nnunet_adapter.build_plugin_network"


class ArchitecturePlugin(NamedPlugin, ABC):
    """A segmentation network covplan can plan, train and predict with.

    Only ``name``, ``dims`` and :meth:`build_network` are required; every other method
    has a default that a plugin may override.

    The network takes ``(batch, channels, *patch_size)`` and returns logits
    ``(batch, num_classes, *patch_size)``. With ``deep_supervision=True`` it returns a
    list of such maps, the full-resolution one first (nnU-Net's convention); the trainer
    resizes the target to each output's shape and weights them with
    :meth:`output_weights`.
    """

    dims: tuple[int, ...] = (2, 3)
    default_loss: str = "dice_ce"
    # Feature counts the planner puts into the topology: features double per stage from
    # the base up to the cap; None caps as nnU-Net does (320 in 3D, 512 in 2D).
    base_num_features: int = 32
    max_num_features: int | None = None
    # How logits become probabilities at inference: "softmax" over the classes, or
    # "sigmoid" per class (one-vs-rest maps). The label is the arg-max either way.
    output_activation: str = "softmax"
    # The recipe's early stopping: the trainer stops once the validation loss has not
    # improved for this many epochs; None trains every epoch (nnU-Net's way).
    early_stopping_patience: int | None = None
    # Why the network cannot be exported to ONNX (`covplan export --onnx` refuses it with
    # this reason and `covplan plugins` shows it); None: it can, and every export is
    # checked against torch anyway.
    onnx_unsupported: str | None = None

    @abstractmethod
    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        """Build the network for one configuration of a plans file (``patch_size``,
        ``spacing``, ``architecture.arch_kwargs``, ...)."""

    def nnunet_architecture(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The ``architecture`` entry of a plans configuration: how nnU-Net rebuilds this
        network. ``plan["architecture"]["arch_kwargs"]`` holds the topology the planner
        chose (nnU-Net's ``n_stages``, ``features_per_stage``, ``kernel_sizes``,
        ``strides``, ...). The default keeps that topology and names covplan's adapter,
        which looks the plugin up by name and calls :meth:`build_network` with the same
        configuration; a plugin whose network class takes nnU-Net's constructor arguments
        may name that class instead."""
        topology = dict(plan.get("architecture", {}).get("arch_kwargs", {}))
        topology.pop("covplan_architecture", None)
        topology.pop("covplan_plan", None)
        plan_without_architecture = {key: value for key, value in plan.items() if key != "architecture"}
        return {
            "network_class_name": NNUNET_ADAPTER,
            "arch_kwargs": {**topology, "covplan_architecture": self.name, "covplan_plan": plan_without_architecture},
            # The adapter takes the topology as plain JSON values, exactly as planned.
            "_kw_requires_import": [],
        }

    def search_space(self) -> dict[str, list[Any]]:
        """Parameters of this architecture ``covplan tune`` may choose: name -> the values
        to try (JSON scalars: numbers, strings, booleans). A trial's values reach
        :meth:`build_network` as ``plan["architecture_params"]`` (absent without a search:
        build the default then) and stay in the trained model's plans, so prediction
        rebuilds the same network. The default declares none."""
        return {}

    def output_weights(self, num_outputs: int) -> list[float]:
        """Loss weight of each network output, full resolution first. The default is
        nnU-Net's deep-supervision weighting: halved per level, the lowest resolution
        ignored, normalised to sum to one."""
        if num_outputs == 1:
            return [1.0]
        weights = [1 / 2**level for level in range(num_outputs)]
        weights[-1] = 0.0
        total = sum(weights)
        return [w / total for w in weights]

    def configure_optimizers(self, network: nn.Module, num_epochs: int, initial_lr: float | None = None
                             ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Optimiser and per-epoch schedule; the trainer steps the schedule with
        :func:`covplan.architectures.recipes.step_scheduler`, which hands a
        reduce-on-plateau schedule the epoch's training loss. The default is nnU-Net's:
        SGD with Nesterov momentum 0.99, weight decay 3e-5, initial rate 1e-2 and
        polynomial decay (see :mod:`covplan.architectures.recipes` for the others)."""
        return nnunet_sgd_poly(network, num_epochs, 1e-2 if initial_lr is None else initial_lr)

    def inference_network(self, network: nn.Module) -> nn.Module:
        """The module prediction runs for one fold: ``network`` (evaluation mode, the
        fold's weights loaded, deep supervision off) or a faster equivalent that returns
        the same logits up to float rounding, e.g. with batch norm folded into the
        convolutions (:func:`covplan.architectures.inference.fold_batch_norm`) or another
        memory format. Must not modify ``network``: the predictor loads the next fold's
        weights into it. The default returns ``network`` itself."""
        return network

    def slice_classifier(self) -> SliceClassifierRecipe | None:
        """The recipe of this 2D network's slice classifier (lesion / no lesion per slice,
        see :mod:`covplan.architectures.slice_classifier`), or None (the default) when it
        offers none. `covplan train-classifier` refuses an architecture without one."""
        return None

    def estimate_memory(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                        batch_size: int | None = None) -> int:
        """Bytes one training step needs at the plan's patch and batch size. The default
        measures one forward pass (see :func:`measure_training_memory`) of the network built
        on the meta device, so no weights are allocated or initialised and the planner can
        call it for every candidate patch; plugins with a cheaper closed form may override it."""
        with on_meta_device():
            network = self.build_network(plan, num_input_channels, num_classes, deep_supervision=True)
        batch = plan["batch_size"] if batch_size is None else batch_size
        return measure_training_memory(network, (batch, num_input_channels, *plan["patch_size"]))


ARCHITECTURES: PluginKind[ArchitecturePlugin] = PluginKind("register_architectures", ArchitecturePlugin, "architecture")


def architectures() -> dict[str, Registered[ArchitecturePlugin]]:
    """Every registered architecture plugin by name."""
    return ARCHITECTURES.registered()


def get_architecture(name: str) -> ArchitecturePlugin:
    """The architecture plugin registered as ``name``; the error lists the known ones."""
    return ARCHITECTURES.get(name)
