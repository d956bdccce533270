"""The slice classifier on a frozen coarse-refine encoder, and the patient decision."""

import torch

from covplan.architectures.base import get_architecture
from covplan_coarse_refine.classifier import (
    SliceClassifier, classifier_optimizer, classifier_training_step, patient_diagnosis, slice_labels,
)
from tests.plugins.coarse_refine.tiny_inputs import coarse_refine_plan, lesion_phantom


def trained_looking_network():
    network = get_architecture("coarse_refine").build_network(coarse_refine_plan(), 1, 3)
    # Non-default batch-norm statistics, as a trained network would have.
    network(torch.randn(4, 1, 64, 64))
    return network


def test_only_the_head_trains_and_the_encoder_stays_as_segmentation_left_it():
    network = trained_looking_network()
    classifier = SliceClassifier(network)
    encoder_before = {k: v.clone() for k, v in classifier.encoder.state_dict().items()}
    head_before = {k: v.clone() for k, v in classifier.head.state_dict().items()}
    assert all(not p.requires_grad for p in classifier.encoder.parameters())
    assert [name for name, p in classifier.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    images, labels = lesion_phantom()
    loss = classifier_training_step(classifier, classifier_optimizer(classifier), images, labels)
    assert loss > 0
    assert all(torch.equal(encoder_before[k], v) for k, v in classifier.encoder.state_dict().items())
    assert not torch.equal(head_before["weight"], classifier.head.weight)
    # The segmentation network itself is untouched and still trainable.
    assert all(p.requires_grad for p in network.parameters())
    for name, value in network.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[name])


def test_classifier_features_are_the_segmentation_encoders():
    network = trained_looking_network().eval()
    classifier = SliceClassifier(network).train()
    image = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        pooled = network.encoder(image)[-1].mean(dim=(2, 3))
        assert torch.allclose(classifier(image), classifier.head(pooled))
        probability = classifier.lesion_probability(image)
    assert probability.shape == (2,)
    assert torch.all((probability > 0) & (probability < 1))


def test_slice_labels_say_whether_any_pixel_is_a_lesion():
    label_maps = torch.zeros(3, 1, 4, 4, dtype=torch.long)
    label_maps[1, 0, 2, 3] = 2
    label_maps[2, 0, 0, 0] = 1
    assert slice_labels(label_maps).tolist() == [0, 1, 1]


def test_a_patient_is_positive_when_any_slice_is():
    diagnosis = patient_diagnosis({"p1": [0.1, 0.2, 0.7], "p2": [0.1, 0.49], "p3": []})
    assert diagnosis == {"p1": True, "p2": False, "p3": False}
    assert patient_diagnosis({"p2": [0.1, 0.49]}, threshold=0.4) == {"p2": True}
