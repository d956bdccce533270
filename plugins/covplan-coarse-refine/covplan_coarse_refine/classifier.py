"""The slice classifier of method C and the patient-level decision built on it.

The classifier is the coarse module's SE-ResNet-34 encoder plus the rest of SE-ResNet-34
(global average pooling and a fully connected head, here with two classes: no lesion /
lesion). It is built after segmentation has converged, with the encoder's weights frozen,
so only the head learns. A patient is positive when any of their slices is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional

from covplan.architectures.slice_classifier import SliceClassifierRecipe
from covplan_coarse_refine.network import CoarseRefineNet

NUM_SLICE_CLASSES = 2
POSITIVE_SLICE = 1
# Adam at the segmentation network's rate: the paper gives no separate setting.
CLASSIFIER_LEARNING_RATE = 3e-4


class SliceClassifier(nn.Module):
    """Says whether a 2D slice contains lesions: logits ``(batch, 2)``, class 1 = lesion."""

    def __init__(self, segmentation_network: CoarseRefineNet):
        super().__init__()
        # A copy, so that freezing it leaves the segmentation network trainable and the
        # classifier can be saved and loaded on its own.
        self.encoder = copy.deepcopy(segmentation_network.encoder)
        self.encoder.requires_grad_(False)
        encoder_weight = next(self.encoder.parameters())
        self.head = nn.Linear(self.encoder.stage_widths[-1], NUM_SLICE_CLASSES,
                              device=encoder_weight.device, dtype=encoder_weight.dtype)

    def train(self, mode: bool = True) -> SliceClassifier:
        """Train the head only: the frozen encoder stays in evaluation mode, so its batch
        norm statistics do not drift either."""
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        deepest = self.encoder(image)[-1]
        return self.head(deepest.mean(dim=(2, 3)))

    def lesion_probability(self, image: torch.Tensor) -> torch.Tensor:
        """Probability of a lesion in each slice ``(batch,)``."""
        return torch.softmax(self(image), dim=1)[:, POSITIVE_SLICE]


def slice_labels(label_maps: torch.Tensor) -> torch.Tensor:
    """Slice classes from segmentation label maps ``(batch, 1, H, W)``: 1 where any pixel
    is a lesion (non-background), else 0."""
    return (label_maps.flatten(1) > 0).any(dim=1).long()


def classifier_optimizer(classifier: SliceClassifier, learning_rate: float = CLASSIFIER_LEARNING_RATE
                         ) -> torch.optim.Optimizer:
    """Adam over the trainable (head) parameters only."""
    return torch.optim.Adam([p for p in classifier.parameters() if p.requires_grad], lr=learning_rate)


def classifier_training_step(classifier: SliceClassifier, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                             label_maps: torch.Tensor) -> float:
    """One optimisation step of cross-entropy on slice classes derived from the label
    maps; returns the loss. The shared trainer calls this in its loop."""
    classifier.train()
    optimizer.zero_grad(set_to_none=True)
    loss = functional.cross_entropy(classifier(images), slice_labels(label_maps))
    loss.backward()
    optimizer.step()
    return loss.item()


class CoarseRefineSliceClassifier(SliceClassifierRecipe):
    """Method C's classifier as covplan's slice-classifier contract: the frozen encoder of the
    trained network plus a linear head, Adam on the head, cross-entropy on slice classes."""

    def build(self, segmentation_network: nn.Module) -> SliceClassifier:
        return SliceClassifier(segmentation_network)

    def optimizer(self, classifier: nn.Module, learning_rate: float | None = None) -> torch.optim.Optimizer:
        return classifier_optimizer(classifier, CLASSIFIER_LEARNING_RATE if learning_rate is None else learning_rate)

    def training_step(self, classifier: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                      lesion_maps: torch.Tensor) -> float:
        return classifier_training_step(classifier, optimizer, images, lesion_maps)


def patient_diagnosis(slice_probabilities_by_patient: Mapping[str, Sequence[float]], threshold: float = 0.5
                      ) -> dict[str, bool]:
    """Patient-level decision: a patient is positive when any of their slices has a lesion
    probability at or above ``threshold``."""
    return {patient: any(probability >= threshold for probability in probabilities)
            for patient, probabilities in slice_probabilities_by_patient.items()}
