"""Networks whose batch norms look trained, for the tests of inference rewrites."""

import torch
from torch import nn


def with_trained_statistics(network: nn.Module, seed: int = 0) -> nn.Module:
    """Batch norms with running statistics and affine parameters far from the identity,
    as after training, so that folding has something to fold."""
    generator = torch.Generator().manual_seed(seed)
    for module in network.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.rand(shape, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(shape, generator=generator) - 0.5)
    return network.eval()
