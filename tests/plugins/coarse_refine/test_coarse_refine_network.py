"""The coarse_refine architecture: shapes, gradients, plan handling, and how covplan and
nnU-Net find and build it."""

import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from covplan.architectures.base import architectures, get_architecture
from covplan.losses.base import losses
from covplan.errors import CovplanError
from covplan.plugins import load_plugins, plugin_source
from tests.architectures.batch_norms import with_trained_statistics
from tests.plugins.coarse_refine.tiny_inputs import coarse_refine_plan

# Planner-made 2D patch sizes, odd ones included, with one and three lesion classes.
SHAPES = [((64, 64), 2), ((97, 131), 4), ((80, 48), 4), ((33, 17), 2)]


def coarse_refine():
    return get_architecture("coarse_refine")


@pytest.mark.parametrize(("patch_size", "num_classes"), SHAPES)
def test_final_and_coarse_maps_have_the_input_size(patch_size, num_classes):
    network = coarse_refine().build_network(coarse_refine_plan(patch_size), 1, num_classes, deep_supervision=True)
    final, coarse = network(torch.randn(2, 1, *patch_size))
    assert final.shape == coarse.shape == (2, num_classes, *patch_size)
    network.decoder.deep_supervision = False  # how nnUNetTrainer switches it off
    assert not network.deep_supervision
    assert network(torch.randn(1, 1, *patch_size)).shape == (1, num_classes, *patch_size)


def test_final_map_is_the_coarse_map_plus_the_refinement_residual():
    network = coarse_refine().build_network(coarse_refine_plan(), 1, 4, deep_supervision=True).eval()
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        final, coarse = network(image)
        assert torch.allclose(final, coarse + network.refinement(coarse))


def test_gradients_reach_every_parameter():
    network = coarse_refine().build_network(coarse_refine_plan((48, 40)), 1, 4, deep_supervision=True)
    final, coarse = network(torch.randn(2, 1, 48, 40))
    (final.square().mean() + coarse.square().mean()).backward()
    parameters = dict(network.named_parameters())
    assert [name for name, p in parameters.items() if p.grad is None] == []
    # A squeeze-excitation bottleneck unit may sit inactive behind its ReLU for one batch
    # (its input is a batch-normalised map's mean, near zero); every other gradient is live.
    outside_gates = {name: p for name, p in parameters.items() if ".gate." not in name}
    assert [name for name, p in outside_gates.items() if not p.grad.abs().sum() > 0] == []


def test_width_comes_from_the_plan_and_the_paper_width_is_the_default():
    plugin = coarse_refine()
    narrow = plugin.build_network(coarse_refine_plan(base_width=4), 1, 2)
    assert narrow.encoder.stage_widths == [4, 8, 16, 32]
    paper = plugin.build_network({"patch_size": [64, 64]}, 1, 2)
    assert paper.encoder.stage_widths == [64, 128, 256, 512]
    assert [len(stage) for stage in paper.encoder.stages] == [3, 4, 6, 3]
    assert plugin.base_num_features == 64


def test_patches_it_cannot_handle_are_refused_with_the_fix():
    with pytest.raises(CovplanError, match="2D slices only.*plan the 2d configuration"):
        coarse_refine().build_network(coarse_refine_plan((32, 32, 32)), 1, 2)
    with pytest.raises(CovplanError, match=r"at least 16 pixels.*\[12, 64\]"):
        coarse_refine().build_network(coarse_refine_plan((12, 64)), 1, 2)


def test_training_recipe_is_the_papers():
    plugin = coarse_refine()
    assert plugin.dims == (2,)
    assert plugin.default_loss == "hybrid_bce_ssim_iou"
    assert plugin.output_activation == "sigmoid"
    assert plugin.output_weights(2) == [1.0, 1.0]
    network = torch.nn.Linear(2, 2)
    optimizer, scheduler = plugin.configure_optimizers(network, num_epochs=5)
    assert isinstance(optimizer, torch.optim.Adam)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)


def test_plugin_is_found_through_its_entry_point():
    load_plugins()
    assert plugin_source("coarse_refine").distribution == "covplan-coarse-refine"
    assert architectures()["coarse_refine"].source.distribution == "covplan-coarse-refine"
    assert losses()["hybrid_bce_ssim_iou"].source.distribution == "covplan-coarse-refine"


def test_nnunet_builds_it_from_the_plans_entry():
    plan = coarse_refine_plan((97, 131))
    architecture = coarse_refine().nnunet_architecture(plan)
    network = get_network_from_plans(architecture["network_class_name"], architecture["arch_kwargs"],
                                     architecture["_kw_requires_import"], 1, 4, deep_supervision=True)
    final, coarse = network(torch.randn(1, 1, 97, 131))
    assert final.shape == coarse.shape == (1, 4, 97, 131)
    assert network.encoder.stage_widths == [8, 16, 32, 64]


def test_memory_estimate_grows_with_batch_and_patch():
    plugin = coarse_refine()
    small = plugin.estimate_memory(coarse_refine_plan((64, 64)), 1, 4, batch_size=1)
    assert plugin.estimate_memory(coarse_refine_plan((64, 64)), 1, 4, batch_size=2) > small
    assert plugin.estimate_memory(coarse_refine_plan((128, 96)), 1, 4, batch_size=1) > small
    network = plugin.build_network(coarse_refine_plan(), 1, 4)
    assert small > 4 * 4 * sum(p.numel() for p in network.parameters())


def test_inference_network_returns_the_same_logits_faster_and_leaves_the_network_alone():
    torch.manual_seed(0)
    network = with_trained_statistics(coarse_refine().build_network(coarse_refine_plan((80, 48)), 1, 4))
    image = torch.randn(2, 1, 80, 48)
    with torch.no_grad():
        expected = network(image)
        inference = coarse_refine().inference_network(network)
        torch.testing.assert_close(inference(image), expected, atol=1e-4, rtol=1e-4)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in inference.modules())
    assert inference.encoder.input_layer[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert sum(isinstance(module, torch.nn.BatchNorm2d) for module in network.modules()) == 66
