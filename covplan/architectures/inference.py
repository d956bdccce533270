"""Inference-only forms of a trained network: the full-resolution output alone (what
nnU-Net's predictor and the ONNX exporter take), and rewrites that compute the same
outputs faster."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class FullResolutionOutput(nn.Module):
    """The first (full-resolution) output of a network with several, the form nnU-Net's
    predictor takes."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.network(x)
        return output[0] if isinstance(output, (list, tuple)) else output


def fold_batch_norm(network: nn.Module) -> nn.Module:
    """A copy of ``network`` in evaluation mode in which every batch norm that directly
    follows a convolution inside an ``nn.Sequential`` is folded into that convolution's
    weights and bias (torch's ``fuse_conv_bn_eval``) and replaced by ``nn.Identity``.

    In evaluation mode batch norm is an affine map per channel, so the folded network
    returns the same outputs up to float rounding while skipping one pass over every
    feature map. ``network`` is left as it is, so that other weights (the next fold's)
    can still be loaded into it."""
    folded = copy.deepcopy(network).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            convolution, norm = module[index], module[index + 1]
            if isinstance(convolution, CONVOLUTIONS) and isinstance(norm, BATCH_NORMS) and norm.track_running_stats:
                module[index] = fuse_conv_bn_eval(convolution, norm)
                module[index + 1] = nn.Identity()
    return folded
