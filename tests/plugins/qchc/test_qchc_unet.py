"""The QC-HC U-Net network (plugins/covplan-qchc/covplan_qchc/network.py)."""

import pytest
import torch
from covplan_qchc.network import QCHCUNet, QuickConnectionBlock

from covplan.architectures.base import get_architecture
from covplan.losses.base import get_loss
from covplan.architectures.example_plans import unet_plan
from tests.architectures.phantom import overfit, parameters_without_gradient, phantom_batch
from tests.architectures.topologies import PLANS

NUM_CLASSES = 3


def build(plan, deep_supervision=False):
    return get_architecture("qchc_unet").build_network(plan, 1, NUM_CLASSES, deep_supervision)


@pytest.mark.parametrize("plan_name", sorted(PLANS))
def test_output_is_full_resolution_logits(plan_name):
    plan = PLANS[plan_name]
    image = torch.randn(2, 1, *plan["patch_size"])
    assert build(plan)(image).shape == (2, NUM_CLASSES, *plan["patch_size"])


def test_deep_supervision_gives_the_one_hypercolumn_output_as_a_list():
    plan = PLANS["3d_anisotropic"]
    network = build(plan, deep_supervision=True).eval()
    image = torch.randn(2, 1, *plan["patch_size"])
    with torch.no_grad():
        outputs = network(image)
        assert isinstance(outputs, list) and len(outputs) == 1
        # nnU-Net's trainer switches deep supervision off through this attribute for inference.
        network.decoder.deep_supervision = False
        assert torch.equal(network(image), outputs[0])
    assert get_architecture("qchc_unet").output_weights(len(outputs)) == [1.0]


@pytest.mark.parametrize("plan_name", ["3d_anisotropic", "2d_anisotropic"])
def test_gradients_reach_every_parameter(plan_name):
    plan = PLANS[plan_name]
    assert parameters_without_gradient(build(plan), torch.randn(2, 1, *plan["patch_size"])) == []


def test_encoder_cascades_block_input_and_output_into_the_next_level():
    plan = PLANS["3d_isotropic"]  # features 4, 8, 16
    network = build(plan)
    first_convs = [block.first.conv for block in network.encoder.blocks]
    # Level 0 sees the image; level 1 the image and level 0's output; level 2 all of those.
    assert [conv.in_channels for conv in first_convs] == [1, 1 + 4, 1 + 4 + 8]
    assert [conv.out_channels for conv in first_convs] == [4, 8, 16]


def test_decoder_reduces_upsampled_and_skip_channels_with_1x1_conv_and_bn():
    network = build(PLANS["3d_isotropic"])
    reductions = network.decoder.reductions  # deepest level first
    assert [r.conv.kernel_size for r in reductions] == [(1, 1, 1), (1, 1, 1)]
    assert [(r.conv.in_channels, r.conv.out_channels) for r in reductions] == [(16, 8), (8, 4)]
    assert all(isinstance(r.norm, torch.nn.BatchNorm3d) for r in reductions)


def test_quick_connection_adds_the_first_conv_bn_to_the_last():
    torch.manual_seed(0)
    block = QuickConnectionBlock(2, 3, 4, [3, 3], num_convs=2).eval()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        first = block.first(x)
        expected = torch.relu(first + block.last(torch.relu(first)))
        assert torch.allclose(block(x), expected)
    with pytest.raises(ValueError, match="at least two convolutions"):
        QuickConnectionBlock(2, 3, 4, [3, 3], num_convs=1)


def test_hypercolumns_sum_every_decoder_levels_scores_upsampled_linearly():
    torch.manual_seed(0)
    plan = PLANS["2d_odd_bottleneck"]
    network = build(plan).eval()
    image = torch.randn(1, 1, *plan["patch_size"])
    level_scores = []
    hooks = [c.register_forward_hook(lambda module, args, output: level_scores.append(output))
             for c in network.decoder.classifiers]
    with torch.no_grad():
        output = network(image)
    for hook in hooks:
        hook.remove()
    assert [tuple(s.shape[2:]) for s in level_scores] == [(18, 10), (36, 20)]
    upsampled = torch.nn.functional.interpolate(level_scores[0], size=(36, 20), mode="bilinear", align_corners=False)
    assert torch.allclose(output, upsampled + level_scores[1], atol=1e-6)


def test_builds_from_nnunet_topology_of_different_depth():
    network = QCHCUNet(2, 4, [8, 16, 32, 64], [[3, 3]] * 4, [[1, 1], [2, 2], [2, 2], [2, 2]], [2, 3, 2, 2], [2, 2, 2])
    assert len(network.encoder.blocks) == 4 and len(network.decoder.classifiers) == 3
    assert len(network.encoder.blocks[1].middle) == 1  # three convolutions: first, one middle, last
    assert network(torch.randn(1, 2, 32, 32)).shape == (1, 4, 32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("patch", [[32, 32], [16, 16, 16]])
def test_overfits_a_phantom_batch_with_its_default_loss(patch):
    torch.manual_seed(0)
    plan = unet_plan(patch, [[1] * len(patch)] + [[2] * len(patch)] * 2, base_num_features=4)
    plugin = get_architecture("qchc_unet")
    network = plugin.build_network(plan, 1, NUM_CLASSES)
    loss = get_loss(plugin.default_loss).build_loss(plan, NUM_CLASSES)
    image, labels = phantom_batch(patch)
    assert min(overfit(network, loss, image, labels, steps=150)) > 0.9
