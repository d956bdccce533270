"""The contract between covplan and a loss function."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from covplan.plugin_base import NamedPlugin


class LossPlugin(NamedPlugin, ABC):
    """A training loss covplan can pair with any architecture whose output fits it.

    The callable :meth:`build_loss` returns is called as ``loss(outputs, targets)``: with
    one output, a logits tensor ``(batch, num_classes, *spatial)`` and an integer label
    map ``(batch, 1, *spatial)``; with several outputs (deep supervision, coarse and
    final maps), lists of both, one target per output at that output's size, weighted
    by ``output_weights``.
    """

    @abstractmethod
    def build_loss(self, plan: dict[str, Any], num_classes: int,
                   output_weights: Sequence[float] | None = None) -> Callable[..., torch.Tensor]:
        """The loss (usually an ``nn.Module``) for one configuration of a plans file. ``output_weights`` is
        ``None`` for a network with one output."""


def weighted_over_outputs(loss: nn.Module, output_weights: Sequence[float] | None) -> nn.Module:
    """``loss`` for a network with one output (``output_weights`` is None), or nnU-Net's
    deep-supervision wrapper that applies it to each output and target pair and sums
    them with ``output_weights``."""
    if output_weights is None:
        return loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper

    return DeepSupervisionWrapper(loss, list(output_weights))
