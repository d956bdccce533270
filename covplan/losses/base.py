"""The contract between covplan and a loss function."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from covplan.errors import CovplanError
from covplan.plugin_base import NamedPlugin
from covplan.registry import PluginKind, Registered

if TYPE_CHECKING:
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

# The keyword through which build_loss receives the dataset's labels. Losses written before
# it existed do not take it and are still called without it (see build_plugin_loss).
LABEL_MANAGER_KEYWORD = "label_manager"


class LossPlugin(NamedPlugin, ABC):
    """A training loss covplan can pair with any architecture whose output fits it.

    The callable :meth:`build_loss` returns is called as ``loss(outputs, targets)``: with
    one output, a logits tensor ``(batch, num_heads, *spatial)`` and a target
    ``(batch, 1, *spatial)``; with several outputs (deep supervision, coarse and final
    maps), lists of both, one target per output at that output's size, weighted by
    ``output_weights``.

    The target is nnU-Net's: an integer label map, which holds ``label_manager.ignore_label``
    where a voxel is unlabelled; with regions (dataset.json labels whose values are lists)
    one binary map per region ``(batch, num_regions, *spatial)``, plus a last map that is 1
    where a voxel is unlabelled when the dataset also has an ignore label.

    A loss that can train on an ignore label or on regions says so with
    ``supports_ignore_label`` / ``supports_regions`` and takes the keyword argument
    ``label_manager`` (nnunetv2's ``LabelManager``) in :meth:`build_loss`; covplan refuses a
    dataset with either for a loss that does not (see :meth:`refusal`).

    ``dims`` are the dimensionalities of the configurations it can train, as an
    architecture's: a 2D-only loss (an SSIM over 2D windows) says ``(2,)``, and covplan
    refuses it for a 3D configuration and leaves it out of a 3D search.
    """

    dims: tuple[int, ...] = (2, 3)
    supports_ignore_label: bool = False
    supports_regions: bool = False

    @abstractmethod
    def build_loss(self, plan: dict[str, Any], num_classes: int,
                   output_weights: Sequence[float] | None = None) -> Callable[..., torch.Tensor]:
        """The loss (usually an ``nn.Module``) for one configuration of a plans file. ``output_weights`` is
        ``None`` for a network with one output. Losses that support an ignore label or regions add
        ``label_manager: LabelManager | None = None`` (None: plain exclusive labels)."""

    def refusal(self, label_manager: LabelManager) -> str | None:
        """Why this loss cannot train on a dataset with these labels, in a few words, or
        None when it can. The default follows ``supports_regions`` and
        ``supports_ignore_label``; a plugin may override it to give its reason."""
        missing = []
        if label_manager.has_regions and not self.supports_regions:
            missing.append("regions (labels whose values are lists)")
        if label_manager.has_ignore_label and not self.supports_ignore_label:
            missing.append("an ignore label")
        return f"it does not support {' or '.join(missing)}" if missing else None


SUPPORTING_LOSS_FIX = "train with --loss dice_ce (it supports regions and the ignore label)"


def check_loss_supports_labels(plugin: LossPlugin, label_manager: LabelManager, source: str,
                               fix: str = SUPPORTING_LOSS_FIX) -> None:
    """Refuse, in one line naming ``source`` (the dataset.json) and ``fix``, a loss that
    cannot train on the dataset's regions or ignore label."""
    reason = plugin.refusal(label_manager)
    if reason is not None:
        raise CovplanError(f"{source}: loss '{plugin.name}' cannot train on this dataset's labels: {reason}; {fix}")


def dims_text(dims: Sequence[int] | set[int]) -> str:
    """``2D``, ``2D/3D``: dimensionalities as messages name them."""
    return "/".join(f"{dim}D" for dim in sorted(dims))


def check_loss_supports_dims(plugin: LossPlugin, configuration: str, dims: int) -> None:
    """Refuse, in one line naming the loss and the configuration, a loss that cannot train
    a configuration of ``dims`` dimensions."""
    if dims not in plugin.dims:
        supported = "the 2d configuration with it (-c 2d)" if tuple(plugin.dims) == (2,) else \
            f"a {dims_text(plugin.dims)} configuration with it"
        raise CovplanError(f"loss '{plugin.name}' supports {dims_text(plugin.dims)} configurations only, not "
                           f"{configuration} ({dims}D); train {supported}, or another loss (--loss dice_ce)")


def build_plugin_loss(plugin: LossPlugin, plan: dict[str, Any], label_manager: LabelManager,
                      output_weights: Sequence[float] | None = None) -> Callable[..., torch.Tensor]:
    """``plugin.build_loss`` for a dataset's labels: with ``label_manager`` when the plugin
    takes it, else in the original form (which :func:`check_loss_supports_labels` allows
    only for plain exclusive labels)."""
    num_classes = label_manager.num_segmentation_heads
    parameters = inspect.signature(plugin.build_loss).parameters
    takes_labels = LABEL_MANAGER_KEYWORD in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    if takes_labels:
        return plugin.build_loss(plan, num_classes, output_weights, **{LABEL_MANAGER_KEYWORD: label_manager})
    return plugin.build_loss(plan, num_classes, output_weights)


def weighted_over_outputs(loss: nn.Module, output_weights: Sequence[float] | None) -> nn.Module:
    """``loss`` for a network with one output (``output_weights`` is None), or nnU-Net's
    deep-supervision wrapper that applies it to each output and target pair and sums
    them with ``output_weights``."""
    if output_weights is None:
        return loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper

    return DeepSupervisionWrapper(loss, list(output_weights))


LOSSES: PluginKind[LossPlugin] = PluginKind("register_losses", LossPlugin, "loss")


def losses() -> dict[str, Registered[LossPlugin]]:
    """Every registered loss plugin by name."""
    return LOSSES.registered()


def get_loss(name: str) -> LossPlugin:
    """The loss plugin registered as ``name``; the error lists the known ones."""
    return LOSSES.get(name)
