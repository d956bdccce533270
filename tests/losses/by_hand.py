"""Inputs for checking losses against values computed by hand."""

from __future__ import annotations

import torch

# Logits this far apart give probabilities of exactly 0 and 1 in float32, and a wrong
# voxel a cross-entropy of log(1 + e^50) ~ 50.
CONFIDENT = 50.0


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(B, 1, *spatial)`` labels as ``(B, C, *spatial)`` float one-hot."""
    return torch.nn.functional.one_hot(labels[:, 0], num_classes).movedim(-1, 1).float()


def confident_logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits that predict ``labels`` with certainty."""
    return CONFIDENT * one_hot(labels, num_classes)


def random_case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random 2D logits ``(2, 3, 4, 5)``, labels, their softmax probabilities and the
    one-hot labels."""
    torch.manual_seed(seed)
    logits = torch.randn(2, 3, 4, 5)
    labels = torch.randint(0, 3, (2, 1, 4, 5))
    return logits, labels, torch.softmax(logits, 1), one_hot(labels, 3)
