"""A complete covplan plugin: a two-convolution network and a plain cross-entropy loss."""

import torch
from torch import nn

import covplan


class TinyConvNet(covplan.ArchitecturePlugin):
    """Two convolutions: the smallest network covplan can plan, train and predict with."""

    name = "example_net"
    dims = (2, 3)
    default_loss = "example_ce"

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        conv = nn.Conv2d if len(plan["patch_size"]) == 2 else nn.Conv3d
        return nn.Sequential(conv(num_input_channels, 8, 3, padding=1), nn.ReLU(inplace=True),
                             conv(8, num_classes, 1))


class CrossEntropy(covplan.LossPlugin):
    """Cross-entropy on the label map."""

    name = "example_ce"

    def build_loss(self, plan, num_classes, output_weights=None):
        return lambda logits, target: nn.functional.cross_entropy(logits, target[:, 0].long())


@covplan.hookimpl
def register_architectures(register):
    register(TinyConvNet())


@covplan.hookimpl
def register_losses(register):
    register(CrossEntropy())
