"""The contract between covplan and a loss function."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch

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
