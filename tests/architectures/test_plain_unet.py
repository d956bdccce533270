import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from covplan.architectures.base import get_architecture
from covplan.losses.base import get_loss
from covplan.architectures.example_plans import reference_plan, unet_plan
from covplan.architectures.plain_unet import PLAIN_CONV_UNET, RESIDUAL_ENCODER_UNET, PlainUNet, ResEncUNet
from tests.architectures.phantom import overfit, parameters_without_gradient, phantom_batch
from tests.architectures.topologies import PLANS

NUM_CLASSES = 3


@pytest.mark.parametrize("plugin", [PlainUNet(), ResEncUNet()], ids=lambda p: p.name)
@pytest.mark.parametrize("plan_name", sorted(PLANS))
def test_outputs_have_the_patch_size_with_and_without_deep_supervision(plugin, plan_name):
    plan = PLANS[plan_name]
    patch = plan["patch_size"]
    image = torch.randn(2, 1, *patch)
    assert plugin.build_network(plan, 1, NUM_CLASSES)(image).shape == (2, NUM_CLASSES, *patch)
    outputs = plugin.build_network(plan, 1, NUM_CLASSES, deep_supervision=True)(image)
    strides = plan["architecture"]["arch_kwargs"]["strides"]
    expected = []
    size = list(patch)
    for stride in strides[:-1]:
        size = [n // s for n, s in zip(size, stride)]
        expected.append((2, NUM_CLASSES, *size))
    assert [tuple(o.shape) for o in outputs] == expected


@pytest.mark.parametrize("plugin", [PlainUNet(), ResEncUNet()], ids=lambda p: p.name)
def test_gradients_reach_every_parameter(plugin):
    plan = PLANS["3d_anisotropic"]
    # With deep supervision every segmentation head is used, so nothing may stay untouched.
    network = plugin.build_network(plan, 1, NUM_CLASSES, deep_supervision=True)
    assert parameters_without_gradient(network, torch.randn(2, 1, *plan["patch_size"])) == []


def test_plain_unet_plans_are_nnunets_own():
    plan = reference_plan(3)
    architecture = PlainUNet().nnunet_architecture(plan)
    assert architecture == {"network_class_name": PLAIN_CONV_UNET, "arch_kwargs": plan["architecture"]["arch_kwargs"],
                            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}


def test_resenc_plans_use_the_resenc_planners_block_counts():
    plan = reference_plan(3)
    architecture = ResEncUNet().nnunet_architecture(plan)
    topology = architecture["arch_kwargs"]
    assert architecture["network_class_name"] == RESIDUAL_ENCODER_UNET
    assert topology["n_blocks_per_stage"] == [1, 3, 4, 6, 6]
    assert topology["n_conv_per_stage_decoder"] == [1, 1, 1, 1]
    assert "n_conv_per_stage" not in topology
    assert topology["strides"] == plan["architecture"]["arch_kwargs"]["strides"]
    assert topology["features_per_stage"] == [32, 64, 128, 256, 320]
    network = get_network_from_plans(architecture["network_class_name"], topology, architecture["_kw_requires_import"],
                                     1, NUM_CLASSES)
    assert [len(stage.blocks) for stage in network.encoder.stages] == [1, 3, 4, 6, 6]


def test_resenc_keeps_the_block_counts_of_a_resenc_plan():
    plan = reference_plan(2)
    plan["architecture"] = ResEncUNet().nnunet_architecture(plan)
    plan["architecture"]["arch_kwargs"]["n_blocks_per_stage"] = [1, 2, 2, 2, 2, 2]
    assert ResEncUNet().nnunet_architecture(plan)["arch_kwargs"]["n_blocks_per_stage"] == [1, 2, 2, 2, 2, 2]


def test_default_recipe_is_nnunets_sgd_with_poly_decay():
    from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

    network = PlainUNet().build_network(PLANS["2d_odd_bottleneck"], 1, NUM_CLASSES)
    optimizer, scheduler = PlainUNet().configure_optimizers(network, num_epochs=10)
    assert isinstance(optimizer, torch.optim.SGD) and isinstance(scheduler, PolyLRScheduler)
    assert optimizer.defaults["lr"] == 1e-2 and optimizer.defaults["momentum"] == 0.99


@pytest.mark.slow
@pytest.mark.parametrize("name,patch", [("plain_unet", [32, 32]), ("plain_unet", [16, 16, 16]),
                                        ("resenc_unet", [32, 32])])
def test_overfits_a_phantom_batch(name, patch):
    torch.manual_seed(0)
    strides = [[1] * len(patch)] + [[2] * len(patch)] * 2
    plan = unet_plan(patch, strides, base_num_features=4)
    network = get_architecture(name).build_network(plan, 1, NUM_CLASSES)
    loss = get_loss("dice_ce").build_loss(plan, NUM_CLASSES)
    image, labels = phantom_batch(patch)
    assert min(overfit(network, loss, image, labels, steps=150)) > 0.9
