"""A tiny phantom batch with known labels, and the overfit check every architecture's
tests run: train on the one batch and measure Dice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def phantom_batch(shape: Sequence[int], batch_size: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, 1, *shape)`` and labels ``(B, 1, *shape)`` with three classes: a
    ball of class 1 and a box of class 2 at different places in each sample. Both
    objects are equally bright (plus noise), so telling them apart needs their shape,
    not just the voxel's intensity."""
    generator = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    labels = np.zeros((batch_size, 1, *shape), dtype=np.int64)
    for sample in range(batch_size):
        centre = np.array([generator.uniform(n * 0.3, n * 0.45) for n in shape])
        radius = min(shape) * 0.2
        ball = ((grid - centre.reshape(-1, *[1] * len(shape))) ** 2).sum(0) <= radius**2
        corner = [int(generator.integers(n // 2 + 1, n - n // 4)) for n in shape]
        box = np.ones(shape, dtype=bool)
        for axis, start in enumerate(corner):
            box &= (grid[axis] >= start) & (grid[axis] < start + max(2, shape[axis] // 5))
        labels[sample, 0][ball] = 1
        labels[sample, 0][box] = 2
    image = (labels > 0).astype(np.float32) + generator.normal(0, 0.3, labels.shape).astype(np.float32)
    return torch.from_numpy(image), torch.from_numpy(labels)


def dice_per_class(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """Hard Dice of the argmax prediction for each foreground class."""
    prediction = logits.argmax(1, keepdim=True)
    scores = []
    for label in range(1, num_classes):
        predicted, true = prediction == label, labels == label
        scores.append(2 * (predicted & true).sum().item() / (predicted.sum() + true.sum()).item())
    return scores


def overfit(network: nn.Module, loss: nn.Module, image: torch.Tensor, labels: torch.Tensor, steps: int,
            lr: float = 1e-2) -> list[float]:
    """Train on the one batch for ``steps`` Adam steps; Dice per foreground class of the
    network in eval mode afterwards. Runs on one thread: networks this small gain
    nothing from more, and lose a lot when the CPU is shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer = torch.optim.Adam(network.parameters(), lr)
        network.train()
        for _ in range(steps):
            optimizer.zero_grad()
            loss(network(image), labels).backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            return dice_per_class(network(image), labels, 3)
    finally:
        torch.set_num_threads(threads)


def parameters_without_gradient(network: nn.Module, image: torch.Tensor, steps: int = 2) -> list[str]:
    """Names of the parameters that got no non-zero gradient in ``steps`` SGD steps on
    a loss over every output. Two steps, not one: residual branches whose last norm
    starts at zero (nnU-Net's ResEnc initialisation) only pass gradients once that norm
    has moved."""
    optimizer = torch.optim.SGD(network.parameters(), 0.1)
    reached: set[str] = set()
    for _ in range(steps):
        optimizer.zero_grad()
        outputs = network(image)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        sum(output.square().mean() for output in outputs).backward()
        reached |= {name for name, p in network.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        optimizer.step()
    return [name for name, _ in network.named_parameters() if name not in reached]
