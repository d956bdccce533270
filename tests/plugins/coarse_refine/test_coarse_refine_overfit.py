"""The coarse-refine network and its hybrid loss learn a phantom batch."""

import torch

from covplan import registry


def dice_per_class(prediction: torch.Tensor, labels: torch.Tensor, classes: range) -> list[float]:
    scores = []
    for label in classes:
        predicted, true = prediction == label, labels == label
        scores.append((2 * (predicted & true).sum() / (predicted.sum() + true.sum())).item())
    return scores


def test_overfits_two_lesion_types_with_the_hybrid_loss(tiny_plan, lesion_phantom):
    torch.manual_seed(0)
    images, labels = lesion_phantom
    plugin = registry.get_architecture("coarse_refine")
    plan = tiny_plan()
    network = plugin.build_network(plan, 1, 3, deep_supervision=True)
    loss = registry.get_loss(plugin.default_loss).build_loss(plan, 3, plugin.output_weights(2))
    optimizer, _ = plugin.configure_optimizers(network, num_epochs=1)  # the paper's Adam, lr 3e-4
    for _ in range(150):
        optimizer.zero_grad()
        loss(network(images), [labels, labels]).backward()
        optimizer.step()
    network.eval()
    network.deep_supervision = False
    with torch.no_grad():
        prediction = network(images).argmax(dim=1, keepdim=True)
    assert min(dice_per_class(prediction, labels, range(1, 3))) > 0.9
