"""BASNet's hybrid loss, BCE + SSIM + IoU, per class and per output.

The network's maps are per-class sigmoid maps (one-vs-rest): an integer label map becomes
one binary target per class, background included, and each of the three terms is
computed on every class map and averaged over classes. Because the label maps are
exclusive, the segmentation is the arg-max over the class maps either way. With regions
(nnU-Net's region-based labels) the targets already are one binary map per region.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

# BASNet's SSIM (after Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, constants for
# maps in [0, 1].
SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
# Laplace smoothing of the IoU: a class absent from both target and prediction scores 1,
# and an absent class still gets a gradient that pushes its map to zero.
IOU_SMOOTH = 1.0


def gaussian_window(size: int = SSIM_WINDOW_SIZE, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 2D Gaussian window ``(size, size)``."""
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    profile = torch.exp(-offsets**2 / (2 * sigma**2))
    profile = profile / profile.sum()
    return profile[:, None] * profile[None, :]


def ssim_map(first: torch.Tensor, second: torch.Tensor, window_size: int = SSIM_WINDOW_SIZE,
             sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Local SSIM of two ``(batch, channels, H, W)`` maps in [0, 1], per pixel and channel.
    Local statistics are Gaussian-weighted; borders are zero-padded as in BASNet."""
    channels = first.shape[1]
    window = gaussian_window(window_size, sigma).to(first)
    window = window.expand(channels, 1, window_size, window_size)

    def local_mean(image: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(image, window, padding=window_size // 2, groups=channels)

    mean_first, mean_second = local_mean(first), local_mean(second)
    variance_first = local_mean(first * first) - mean_first**2
    variance_second = local_mean(second * second) - mean_second**2
    covariance = local_mean(first * second) - mean_first * mean_second
    numerator = (2 * mean_first * mean_second + SSIM_C1) * (2 * covariance + SSIM_C2)
    denominator = (mean_first**2 + mean_second**2 + SSIM_C1) * (variance_first + variance_second + SSIM_C2)
    return numerator / denominator


def soft_iou(probabilities: torch.Tensor, targets: torch.Tensor, smooth: float = IOU_SMOOTH) -> torch.Tensor:
    """Soft IoU of each map ``(batch, channels)``: sum(p*g) / (sum(p) + sum(g) - sum(p*g))."""
    spatial = tuple(range(2, probabilities.ndim))
    intersection = (probabilities * targets).sum(spatial)
    union = probabilities.sum(spatial) + targets.sum(spatial) - intersection
    return (intersection + smooth) / (union + smooth)


def one_hot_targets(label_map: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer label map ``(batch, 1, H, W)`` to float one-hot ``(batch, num_classes, H, W)``."""
    one_hot = functional.one_hot(label_map[:, 0].long(), num_classes)
    return one_hot.movedim(-1, 1).float()


def hybrid_loss(logits: torch.Tensor, target: torch.Tensor, regions: bool = False) -> torch.Tensor:
    """BCE + (1 - SSIM) + (1 - IoU) of one output, each averaged over pixels, classes and
    the batch. ``target``: an integer label map, or with ``regions`` one binary map per
    output map."""
    targets = target.float() if regions else one_hot_targets(target, logits.shape[1])
    # In float32 even under mixed precision: SSIM's local variances are differences of
    # squares and IoU's are sums over the slice, both too coarse in half precision.
    with torch.autocast(device_type=logits.device.type, enabled=False):
        logits = logits.float()
        probabilities = torch.sigmoid(logits)
        bce = functional.binary_cross_entropy_with_logits(logits, targets)
        ssim_term = 1 - ssim_map(probabilities, targets).mean()
        iou_term = 1 - soft_iou(probabilities, targets).mean()
    return bce + ssim_term + iou_term


class HybridBceSsimIouLoss(nn.Module):
    """The hybrid loss on one output, or the weighted sum over several outputs (the
    coarse-refine network's final and coarse maps, weights 1 and 1 in the paper)."""

    def __init__(self, output_weights: Sequence[float] | None = None, regions: bool = False):
        super().__init__()
        self.output_weights = None if output_weights is None else list(output_weights)
        self.regions = regions

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor],
                targets: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            return hybrid_loss(outputs, targets, self.regions)
        weights = self.output_weights or [1.0] * len(outputs)
        return sum(weight * hybrid_loss(output, target, self.regions)
                   for weight, output, target in zip(weights, outputs, targets) if weight != 0)
