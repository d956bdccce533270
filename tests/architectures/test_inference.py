"""Batch norm folded into the preceding convolution for prediction: same outputs, the
original network untouched."""

import pytest
import torch
from torch import nn

from covplan.architectures.inference import fold_batch_norm
from tests.architectures.batch_norms import with_trained_statistics


@pytest.mark.parametrize(("convolution", "norm", "shape"), [(nn.Conv2d, nn.BatchNorm2d, (2, 3, 12, 10)),
                                                            (nn.Conv3d, nn.BatchNorm3d, (1, 3, 6, 8, 8))])
def test_folded_network_returns_the_same_outputs_without_batch_norm(convolution, norm, shape):
    torch.manual_seed(0)
    network = with_trained_statistics(nn.Sequential(
        convolution(3, 8, 3, padding=1, bias=False), norm(8), nn.ReLU(),
        nn.Sequential(convolution(8, 4, 1), norm(4)),
        norm(4),  # follows a batch norm, not a convolution: stays
    ))
    image = torch.randn(shape)
    with torch.no_grad():
        expected = network(image)
        folded = fold_batch_norm(network)
        torch.testing.assert_close(folded(image), expected, atol=1e-5, rtol=1e-5)
    kinds = [type(module).__name__ for module in folded.modules() if not isinstance(module, nn.Sequential)]
    assert kinds == [convolution.__name__, "Identity", "ReLU", convolution.__name__, "Identity", norm.__name__]
    assert folded[0].bias is not None  # the batch norm's shift moved into the convolution


def test_the_original_keeps_its_batch_norms_and_takes_other_weights():
    network = with_trained_statistics(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4)))
    weights = {name: value.clone() for name, value in network.state_dict().items()}
    fold_batch_norm(network)
    assert isinstance(network[1], nn.BatchNorm2d)
    assert all(torch.equal(value, weights[name]) for name, value in network.state_dict().items())
    network.load_state_dict(with_trained_statistics(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False),
                                                                  nn.BatchNorm2d(4)), seed=1).state_dict())
