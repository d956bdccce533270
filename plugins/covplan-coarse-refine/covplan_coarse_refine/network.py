"""The coarse-refine network of method C, written from torch layers.

Coarse module: a U-Net whose encoder is an input layer and the four stages of
SE-ResNet-34, with an ASPP bridge and a decoder of three Conv-BN-ReLU per stage. Refinement
module: BASNet's residual refinement module (RRM) with the same ASPP bridge; its output is
a residual added to the coarse map. Both maps are logits; ``output_activation`` of the
plugin says how to turn them into probabilities.

Every width is a multiple of ``base_width`` (64 in the paper): the encoder stages have
1, 2, 4 and 8 times it (ResNet-34's 64/128/256/512), the ASPP branches and the refinement
module have ``base_width`` filters (64 in the paper).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

# ResNet-34: basic blocks per stage.
SE_RESNET34_BLOCKS = (3, 4, 6, 3)
# Stage widths relative to base_width, and the stride at the start of each stage.
STAGE_WIDTH_FACTORS = (1, 2, 4, 8)
STAGE_STRIDES = (1, 2, 2, 2)
ASPP_RATES = (3, 6, 9)
DECODER_CONVS_PER_STAGE = 3
REFINEMENT_STAGES = 4
# Squeeze-and-excitation reduction ratio of SE-ResNet (Hu et al.), and a floor on the
# bottleneck: 4 units is what the paper width's narrowest stage (64 / 16) has, and one
# unit at reduced widths would often sit dead behind its ReLU.
SE_REDUCTION = 16
SE_MIN_HIDDEN = 4


def conv_bn_relu(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (padding keeps the size), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def upsample_to(features: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling to the exact spatial size of ``reference``: with odd input
    sizes a factor of two would miss the skip connection by one pixel."""
    return functional.interpolate(features, size=reference.shape[2:], mode="bilinear", align_corners=False)


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool, bottleneck MLP, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION):
        super().__init__()
        hidden = max(channels // reduction, SE_MIN_HIDDEN)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.gate(features)


class SEBasicBlock(nn.Module):
    """ResNet's basic block (two 3x3 conv-BN) with squeeze-and-excitation on the residual
    branch before the addition, as in SE-ResNet."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            SqueezeExcitation(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.residual(features) + self.shortcut(features))


class SEResNet34Encoder(nn.Module):
    """Input layer and the four SE-ResNet-34 stages; returns every stage's features,
    full resolution first."""

    def __init__(self, in_channels: int, base_width: int):
        super().__init__()
        # BASNet's input layer (3x3, stride 1, no max-pool) instead of ResNet's 7x7/2 +
        # pool: the paper builds on BASNet, and it keeps the first skip at full resolution.
        self.input_layer = conv_bn_relu(in_channels, base_width)
        self.stage_widths = [base_width * factor for factor in STAGE_WIDTH_FACTORS]
        stages = []
        width = base_width
        for num_blocks, stage_width, stride in zip(SE_RESNET34_BLOCKS, self.stage_widths, STAGE_STRIDES):
            blocks = [SEBasicBlock(width, stage_width, stride)]
            blocks += [SEBasicBlock(stage_width, stage_width) for _ in range(num_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            width = stage_width
        self.stages = nn.ModuleList(stages)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = self.input_layer(image)
        skips = []
        for stage in self.stages:
            features = stage(features)
            skips.append(features)
        return skips


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling bridge: a 1x1 conv, image pooling and three atrous
    3x3 convs (rates 3, 6, 9), ``width`` filters each, concatenated and fused by a 1x1
    conv-BN-ReLU to ``width`` channels (DeepLab v3's projection)."""

    def __init__(self, in_channels: int, width: int, rates: tuple[int, ...] = ASPP_RATES):
        super().__init__()
        pointwise = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        self.branches = nn.ModuleList([pointwise] + [conv_bn_relu(in_channels, width, rate) for rate in rates])
        # No batch norm after image pooling: a 1x1 map with batch size 1 has a single value
        # per channel, which BatchNorm refuses in training (DeepLab v3 needs batch > 1).
        self.image_pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, width, 1),
                                           nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(width * (len(rates) + 2), width, 1, bias=False),
                                     nn.BatchNorm2d(width), nn.ReLU(inplace=True))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pooling(features).expand(-1, -1, *features.shape[2:])
        return self.project(torch.cat([branch(features) for branch in self.branches] + [pooled], dim=1))


class CoarseDecoder(nn.Module):
    """Decoder symmetric to the encoder: per stage, concatenate the upsampled deeper
    features with the stage's skip and apply three Conv-BN-ReLU."""

    def __init__(self, stage_widths: list[int], bridge_width: int, num_classes: int):
        super().__init__()
        # Read by CoarseRefineNet: nnU-Net switches deep supervision through
        # `network.decoder.deep_supervision` (nnUNetTrainer.set_deep_supervision_enabled).
        self.deep_supervision = False
        stages = []
        incoming = bridge_width
        for width in reversed(stage_widths):
            convs = [conv_bn_relu(incoming + width, width)]
            convs += [conv_bn_relu(width, width) for _ in range(DECODER_CONVS_PER_STAGE - 1)]
            stages.append(nn.Sequential(*convs))
            incoming = width
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Conv2d(incoming, num_classes, 3, padding=1)

    def forward(self, bridge: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        features = bridge
        for stage, skip in zip(self.stages, reversed(skips)):
            features = stage(torch.cat([upsample_to(features, skip), skip], dim=1))
        return self.classifier(features)


class ResidualRefinement(nn.Module):
    """BASNet's residual refinement module with an ASPP bridge: a small U-Net on the coarse
    map (four stages of 3x3 conv-BN-ReLU + max-pool down, bilinear upsampling + skip +
    3x3 conv-BN-ReLU up) whose output is a residual for the coarse logits."""

    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.input_conv = nn.Conv2d(num_classes, width, 3, padding=1)
        self.encoder = nn.ModuleList([conv_bn_relu(width, width) for _ in range(REFINEMENT_STAGES)])
        self.bridge = ASPP(width, width)
        self.decoder = nn.ModuleList([conv_bn_relu(2 * width, width) for _ in range(REFINEMENT_STAGES)])
        self.output_conv = nn.Conv2d(width, num_classes, 3, padding=1)

    def forward(self, coarse_logits: torch.Tensor) -> torch.Tensor:
        features = self.input_conv(coarse_logits)
        skips = []
        for stage in self.encoder:
            features = stage(features)
            skips.append(features)
            features = functional.max_pool2d(features, 2)
        features = self.bridge(features)
        for stage, skip in zip(self.decoder, reversed(skips)):
            features = stage(torch.cat([upsample_to(features, skip), skip], dim=1))
        return self.output_conv(features)


class CoarseRefineNet(nn.Module):
    """Coarse U-Net (SE-ResNet-34 encoder, ASPP bridge) plus residual refinement.

    Returns the final logits ``(batch, num_classes, H, W)``; with ``deep_supervision``
    a list ``[final, coarse]``, both at full resolution, so the loss sees both maps as in
    the paper. ``deep_supervision`` may be switched off after training, here or as
    nnU-Net does, on ``decoder.deep_supervision``.
    """

    # The refinement module halves the size four times.
    min_input_size = 2**REFINEMENT_STAGES

    def __init__(self, in_channels: int, num_classes: int, base_width: int = 64, deep_supervision: bool = False):
        super().__init__()
        self.encoder = SEResNet34Encoder(in_channels, base_width)
        self.bridge = ASPP(self.encoder.stage_widths[-1], base_width)
        self.decoder = CoarseDecoder(self.encoder.stage_widths, base_width, num_classes)
        self.refinement = ResidualRefinement(num_classes, base_width)
        self.deep_supervision = deep_supervision

    @property
    def deep_supervision(self) -> bool:
        """Whether the network returns ``[final, coarse]`` instead of the final map."""
        return self.decoder.deep_supervision

    @deep_supervision.setter
    def deep_supervision(self, enabled: bool) -> None:
        self.decoder.deep_supervision = enabled

    def forward(self, image: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        skips = self.encoder(image)
        coarse = self.decoder(self.bridge(skips[-1]), skips)
        final = coarse + self.refinement(coarse)
        return [final, coarse] if self.deep_supervision else final
