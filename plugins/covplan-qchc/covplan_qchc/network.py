"""The QC-HC U-Net: a U-Net with quick connections in every convolution block, cascaded
encoder levels, 1x1 channel reduction in the decoder and hypercolumn outputs.

Built from dynamic-network-architectures' ``ConvDropoutNormReLU`` and its per-dimension
helpers, so one implementation serves 2D and 3D. The topology (stages, features, kernel
sizes, pooling strides, convolutions per stage) is whatever the planner chose.

Departures from the paper, each for a reason:
- Kernel sizes and pooling strides come from the plan, so anisotropic data gets nnU-Net's
  1x3x3 kernels and in-plane-only pooling where the paper uses 3x3x3 and 2x2x2 throughout:
  covplan plans every architecture for the dataset's spacing.
- The paper leaves open what "the encoder combines block input and output" and "the
  decoder reduces the concatenated channels" mean exactly. Here: the encoder passes the
  concatenation of a level's input and its block output down (cascade); the decoder
  concatenates the upsampled features with the skip and a 1x1 Conv + BN brings them back
  to the level's feature count before the block (a DenseNet-style transition instead of
  growing concatenations).
- Weights get nnU-Net's He initialisation; the paper names none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from dynamic_network_architectures.building_blocks.helper import (
    convert_dim_to_conv_op,
    get_matching_batchnorm,
    get_matching_convtransp,
    get_matching_pool_op,
)
from dynamic_network_architectures.building_blocks.simple_conv_blocks import ConvDropoutNormReLU
from dynamic_network_architectures.initialization.weight_init import InitWeights_He
from torch import nn
from torch.nn import functional

# The paper's Conv-BN-ReLU; BN with PyTorch's defaults.
NORM_KWARGS = {"eps": 1e-5, "affine": True}
RELU_KWARGS = {"inplace": True}


def conv_bn(dims: int, in_channels: int, out_channels: int, kernel_size: Sequence[int] | int,
            relu: bool) -> ConvDropoutNormReLU:
    """Conv + BN (+ ReLU), stride 1, "same" padding; no conv bias since BN follows."""
    conv_op = convert_dim_to_conv_op(dims)
    return ConvDropoutNormReLU(conv_op, in_channels, out_channels, kernel_size, 1, conv_bias=False,
                               norm_op=get_matching_batchnorm(conv_op), norm_op_kwargs=NORM_KWARGS,
                               nonlin=nn.ReLU if relu else None, nonlin_kwargs=RELU_KWARGS if relu else None)


class QuickConnectionBlock(nn.Module):
    """``num_convs`` Conv-BN-ReLU with a quick connection: the output of the first
    Conv-BN is added to the output of the last Conv-BN before the final ReLU (a residual
    shortcut without a learned projection, since both have ``out_channels``)."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Sequence[int], num_convs: int):
        super().__init__()
        if num_convs < 2:
            raise ValueError(f"a quick-connection block needs at least two convolutions, got {num_convs}")
        self.first = conv_bn(dims, in_channels, out_channels, kernel_size, relu=False)
        self.middle = nn.Sequential(*[conv_bn(dims, out_channels, out_channels, kernel_size, relu=True)
                                      for _ in range(num_convs - 2)])
        self.last = conv_bn(dims, out_channels, out_channels, kernel_size, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.first(x)
        features = self.last(self.middle(functional.relu(shortcut)))
        return functional.relu(features + shortcut)


class CascadedEncoder(nn.Module):
    """Max-pool by the plan's stride, then a quick-connection block, per level. The next
    level gets the concatenation of this level's input and block output (cascade); the
    decoder gets each block output as its skip."""

    def __init__(self, dims: int, in_channels: int, features: Sequence[int], kernel_sizes: Sequence[Sequence[int]],
                 strides: Sequence[Sequence[int]], convs_per_stage: Sequence[int]):
        super().__init__()
        pool_op = get_matching_pool_op(dimension=dims, pool_type="max")
        self.pools = nn.ModuleList()
        self.blocks = nn.ModuleList()
        level_input_channels = in_channels
        for level, out_channels in enumerate(features):
            stride = list(strides[level])
            self.pools.append(nn.Identity() if all(s == 1 for s in stride) else pool_op(stride, stride))
            self.blocks.append(QuickConnectionBlock(dims, level_input_channels, out_channels, kernel_sizes[level],
                                                    convs_per_stage[level]))
            level_input_channels += out_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Block outputs of every level, highest resolution first."""
        skips = []
        for level, (pool, block) in enumerate(zip(self.pools, self.blocks)):
            x = pool(x)
            output = block(x)
            skips.append(output)
            if level < len(self.blocks) - 1:
                x = torch.cat([x, output], dim=1)
        return skips


class HypercolumnDecoder(nn.Module):
    """Per level: transposed-convolution upsampling, concatenation with the skip, 1x1
    Conv + BN back to the level's features, a quick-connection block and a 1x1
    classifier. The class scores of every level are upsampled by linear interpolation
    to the input size and summed (classifier before upsampling, as in Hariharan et al.'s
    hypercolumns).

    Deep supervision: none beyond the hypercolumns. Each level's classifier already
    feeds the one output, so every level gets the loss gradient directly; the paper
    trains that single output. With ``deep_supervision`` set (nnU-Net's trainer sets
    this attribute) the output is a one-element list, the contract's form for
    deep-supervised networks."""

    def __init__(self, dims: int, features: Sequence[int], kernel_sizes: Sequence[Sequence[int]],
                 strides: Sequence[Sequence[int]], convs_per_stage: Sequence[int], num_classes: int,
                 deep_supervision: bool = False):
        super().__init__()
        conv_op = convert_dim_to_conv_op(dims)
        transposed_conv_op = get_matching_convtransp(dimension=dims)
        self.interpolation = "bilinear" if dims == 2 else "trilinear"
        self.deep_supervision = deep_supervision
        self.upsamplings = nn.ModuleList()
        self.reductions = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.classifiers = nn.ModuleList()
        for level in reversed(range(len(features) - 1)):
            stride = list(strides[level + 1])
            self.upsamplings.append(transposed_conv_op(features[level + 1], features[level], stride, stride))
            self.reductions.append(conv_bn(dims, 2 * features[level], features[level], 1, relu=False))
            self.blocks.append(QuickConnectionBlock(dims, features[level], features[level], kernel_sizes[level],
                                                    convs_per_stage[level]))
            self.classifiers.append(conv_op(features[level], num_classes, 1))

    def forward(self, skips: list[torch.Tensor], output_size: Sequence[int]) -> torch.Tensor | list[torch.Tensor]:
        x = skips[-1]
        scores = None
        for upsampling, reduction, block, classifier, skip in zip(
                self.upsamplings, self.reductions, self.blocks, self.classifiers, reversed(skips[:-1])):
            x = block(reduction(torch.cat([upsampling(x), skip], dim=1)))
            level_scores = classifier(x)
            if tuple(level_scores.shape[2:]) != tuple(output_size):
                level_scores = functional.interpolate(level_scores, size=list(output_size), mode=self.interpolation,
                                                      align_corners=False)
            scores = level_scores if scores is None else scores + level_scores
        return [scores] if self.deep_supervision else scores


class QCHCUNet(nn.Module):
    """Cascaded encoder + hypercolumn decoder; returns class logits at the input size."""

    def __init__(self, input_channels: int, num_classes: int, features_per_stage: Sequence[int],
                 kernel_sizes: Sequence[Sequence[int]], strides: Sequence[Sequence[int]],
                 n_conv_per_stage: Sequence[int], n_conv_per_stage_decoder: Sequence[int],
                 deep_supervision: bool = False):
        super().__init__()
        dims = len(kernel_sizes[0])
        self.encoder = CascadedEncoder(dims, input_channels, features_per_stage, kernel_sizes, strides,
                                       n_conv_per_stage)
        self.decoder = HypercolumnDecoder(dims, features_per_stage, kernel_sizes, strides, n_conv_per_stage_decoder,
                                          num_classes, deep_supervision)
        self.apply(InitWeights_He(neg_slope=0))  # He init for ReLU (slope 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.decoder(self.encoder(x), x.shape[2:])
