import torch
from torch import nn

from covplan.architectures.memory import PARAMETER_COPIES, measure_training_memory


def test_counts_saved_activations_and_parameter_copies():
    network = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU())
    measured = measure_training_memory(network, (2, 1, 8, 8))
    # conv saves its input (2x1x8x8) for the weight gradient; ReLU saves its output (2x4x8x8)
    activations = (2 * 1 * 8 * 8 + 2 * 4 * 8 * 8) * 4
    parameters = 4 * 1 * 3 * 3 * 4
    assert measured == activations + PARAMETER_COPIES * parameters


def test_grows_with_the_batch_and_leaves_the_network_untouched():
    network = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.InstanceNorm3d(8, affine=True), nn.LeakyReLU())
    weights_before = network[0].weight.detach().clone()
    one = measure_training_memory(network, (1, 1, 16, 16, 16))
    two = measure_training_memory(network, (2, 1, 16, 16, 16))
    assert two > one
    assert network[0].weight.device.type == "cpu"
    assert torch.equal(network[0].weight, weights_before)


def test_on_meta_device_builds_without_initialising_and_leaves_real_tensors_alone():
    from covplan.architectures.memory import on_meta_device

    with on_meta_device():
        network = nn.Conv2d(1, 4, 3)
        nn.init.kaiming_normal_(network.weight)  # a no-op on meta: returns the tensor itself
        real = torch.zeros(3, device="cpu")
        real.fill_(2.0)
    assert network.weight.is_meta and network.weight.shape == (4, 1, 3, 3)
    assert torch.equal(real, torch.full((3,), 2.0))  # only meta tensors skip initialisers
    assert measure_training_memory(network, (1, 1, 8, 8)) > 0
