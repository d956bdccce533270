"""train_slice_classifier on a trained coarse_refine fold: the classifier file, its frozen
encoder, and what it learned about lesion-free patches."""

from __future__ import annotations

import pytest
import torch

import covplan
from covplan.architectures.slice_classifier import SliceClassifierRecipe
from covplan.errors import CovplanError
from covplan.training.checkpoints import load_checkpoint
from covplan.training.slice_classifier import (SLICE_CLASSIFIER_FILE, build_slice_classifier, load_slice_classifier,
                                               slice_classifier_recipe, train_slice_classifier)
from covplan.training.inputs import load_training_inputs
from tests.work_folders import CLASSIFIER_ITERATIONS, LESION_FREE_CASES


@pytest.fixture(scope="module")
def loaded(classifier_work):
    inputs = load_training_inputs(classifier_work, "coarse_refine", "2d")
    segmentation = load_checkpoint(inputs.fold_folder(0) / "checkpoint_final.pth")["network_weights"]
    classifier = load_slice_classifier(inputs.fold_folder(0) / SLICE_CLASSIFIER_FILE, "coarse_refine", inputs.plan,
                                       1, 2, segmentation, torch.device("cpu"))
    return inputs, segmentation, classifier


def test_the_classifier_file_records_its_training(classifier_work):
    saved = load_checkpoint(classifier_work / "coarse_refine__2d" / "fold_0" / SLICE_CLASSIFIER_FILE)
    assert saved["kind"] == "slice_classifier" and saved["iterations"] == CLASSIFIER_ITERATIONS
    assert saved["final_loss"] >= 0
    assert not list((classifier_work / "coarse_refine__2d" / "fold_0").glob(".*.tmp"))  # written atomically


def test_the_encoder_stays_the_trained_segmentation_encoder(loaded):
    _, segmentation, classifier = loaded
    for name, value in classifier.encoder.state_dict().items():
        torch.testing.assert_close(value, segmentation[f"encoder.{name}"])
    assert classifier.head.weight.shape == (2, classifier.encoder.stage_widths[-1])


def test_lesion_free_cases_are_told_from_cases_with_a_disc(loaded):
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    inputs, _, classifier = loaded
    dataset = nnUNetDatasetBlosc2(str(inputs.preprocessed_folder))
    probabilities = {}
    with torch.no_grad():
        for identifier in dataset.identifiers:
            data = torch.from_numpy(dataset.load_case(identifier)[0][:, 0][None].astype("float32"))
            probabilities[identifier] = classifier.lesion_probability(data).item()
    assert all(probabilities[case] < 0.5 for case in LESION_FREE_CASES), probabilities
    assert all(p >= 0.5 for case, p in probabilities.items() if case not in LESION_FREE_CASES), probabilities


def test_an_architecture_without_a_classifier_is_refused():
    with pytest.raises(CovplanError, match="'plain_unet' offers no slice classifier"):
        slice_classifier_recipe("plain_unet")


class HeadlessRecipe(SliceClassifierRecipe):
    """A third party's recipe whose build() returns a module without lesion_probability."""

    def build(self, segmentation_network):
        return torch.nn.Identity()

    def optimizer(self, classifier, learning_rate=None):
        raise AssertionError("never reached")

    def training_step(self, classifier, optimizer, images, lesion_maps):
        raise AssertionError("never reached")


class ThirdPartyNet(covplan.ArchitecturePlugin):
    """A third party's 2D network that declares a slice classifier."""

    name = "third_party_net"
    dims = (2,)

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        return torch.nn.Conv2d(num_input_channels, num_classes, 1)

    def slice_classifier(self):
        return HeadlessRecipe()


class ThirdPartyPlugin:
    @covplan.hookimpl
    def register_architectures(self, register):
        register(ThirdPartyNet())


def test_a_third_party_recipe_is_found_through_the_contract_and_checked(register_plugin):
    register_plugin(ThirdPartyPlugin(), "undo-third-party-net")
    assert isinstance(slice_classifier_recipe("third_party_net"), HeadlessRecipe)
    weights = torch.nn.Conv2d(1, 2, 1).state_dict()
    with pytest.raises(CovplanError, match="'third_party_net' has no lesion_probability"):
        build_slice_classifier("third_party_net", {}, 1, 2, weights)


def test_an_untrained_fold_is_refused(classifier_work, tmp_path):
    with pytest.raises(CovplanError, match="checkpoint_final.pth not found"):
        train_slice_classifier(classifier_work, 1, iterations=1, device="cpu")
