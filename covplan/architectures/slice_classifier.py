"""The optional slice-classifier contract of a 2D architecture plugin (method C's speed-up:
say whether a slice holds any lesion before segmenting it).

A plugin offers one by returning a :class:`SliceClassifierRecipe` from
:meth:`covplan.ArchitecturePlugin.slice_classifier`; `covplan train-classifier` trains it on
a converged fold (encoder frozen, only the head learns) and `covplan predict` skips the
slices it calls lesion-free. coarse_refine is the built-in example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class SliceClassifierNetwork(Protocol):
    """What :meth:`SliceClassifierRecipe.build` returns: a torch module that also answers
    ``lesion_probability(images)`` with one probability per slice ``(batch,)`` for images
    ``(batch, channels, height, width)``."""

    def lesion_probability(self, images: torch.Tensor) -> torch.Tensor: ...


class SliceClassifierRecipe(ABC):
    """How to build and train the slice classifier on a trained segmentation network."""

    @abstractmethod
    def build(self, segmentation_network: nn.Module) -> nn.Module:
        """The classifier on ``segmentation_network`` (the fold's trained network, built by
        the plugin's ``build_network``), a module with ``lesion_probability`` (see
        :class:`SliceClassifierNetwork`). It must not change ``segmentation_network``."""

    @abstractmethod
    def optimizer(self, classifier: nn.Module, learning_rate: float | None = None) -> torch.optim.Optimizer:
        """The optimiser of the classifier's trainable parameters; ``None``: the recipe's rate."""

    @abstractmethod
    def training_step(self, classifier: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                      lesion_maps: torch.Tensor) -> float:
        """One optimisation step on ``images`` ``(batch, channels, h, w)`` and their lesion
        maps ``(batch, 1, h, w)`` (1 where a lesion label is, 0 elsewhere, lung labels
        excluded); returns the loss."""
