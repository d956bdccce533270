"""The coarse-refine network learns a phantom batch with its hybrid loss, and the slice
classifier learns on top of the trained network."""

import pytest
import torch

from covplan.architectures.base import get_architecture
from covplan.losses.base import get_loss
from covplan_coarse_refine.classifier import SliceClassifier, classifier_optimizer, classifier_training_step
from tests.plugins.coarse_refine.tiny_inputs import coarse_refine_plan, lesion_phantom


def dice_per_class(prediction: torch.Tensor, labels: torch.Tensor, classes: range) -> list[float]:
    scores = []
    for label in classes:
        predicted, true = prediction == label, labels == label
        scores.append((2 * (predicted & true).sum() / (predicted.sum() + true.sum())).item())
    return scores


@pytest.fixture(scope="module")
def trained_network():
    """The coarse-refine network after 100 steps of the paper's recipe (hybrid loss on the
    final and coarse maps, Adam at 3e-4) on the two-lesion-type phantom."""
    torch.manual_seed(0)
    images, labels = lesion_phantom()
    plugin = get_architecture("coarse_refine")
    plan = coarse_refine_plan()
    network = plugin.build_network(plan, 1, 3, deep_supervision=True)
    loss = get_loss(plugin.default_loss).build_loss(plan, 3, plugin.output_weights(2))
    optimizer, _ = plugin.configure_optimizers(network, num_epochs=1)
    for _ in range(100):
        optimizer.zero_grad()
        loss(network(images), [labels, labels]).backward()
        optimizer.step()
    network.eval()
    network.deep_supervision = False
    return network


@pytest.mark.slow
def test_overfits_two_lesion_types_with_the_hybrid_loss(trained_network):
    images, labels = lesion_phantom()
    with torch.no_grad():
        prediction = trained_network(images).argmax(dim=1, keepdim=True)
    assert min(dice_per_class(prediction, labels, range(1, 3))) > 0.9


@pytest.mark.slow
def test_slice_classifier_learns_which_slices_have_lesions(trained_network):
    torch.manual_seed(0)
    images, labels = lesion_phantom()
    # Two slices without lesions: background intensity and noise only.
    images = torch.cat([images, 0.1 * torch.randn_like(images)])
    labels = torch.cat([labels, torch.zeros_like(labels)])
    classifier = SliceClassifier(trained_network)
    optimizer = classifier_optimizer(classifier, learning_rate=1e-2)
    first = classifier_training_step(classifier, optimizer, images, labels)
    for _ in range(100):
        last = classifier_training_step(classifier, optimizer, images, labels)
    assert last < first
    classifier.eval()
    with torch.no_grad():
        assert (classifier.lesion_probability(images) >= 0.5).long().tolist() == [1, 1, 0, 0]
