"""The slice classifier of an architecture plugin that offers one (coarse_refine, method C),
trained on a fold whose segmentation network has converged: the encoder is frozen and only
the classification head learns whether a training patch holds any lesion.

A plugin offers a slice classifier through its ``slice_classifier()`` method, which returns
a :class:`covplan.architectures.slice_classifier.SliceClassifierRecipe`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from tqdm import trange

from covplan.architectures.base import get_architecture
from covplan.architectures.slice_classifier import SliceClassifierNetwork, SliceClassifierRecipe
from covplan.errors import CovplanError
from covplan.labels.roles import label_roles
from covplan.training.checkpoints import (
    CHECKPOINT_FORMAT_VERSION,
    load_checkpoint,
    save_checkpoint_atomically,
    seed_everything,
)
from covplan.training.distributed import resolve_device
from covplan.training.inputs import fold_case_identifiers, load_training_inputs
from covplan.work_folder import CHECKPOINT_FINAL, Fold

logger = logging.getLogger(__name__)

SLICE_CLASSIFIER_FILE = "slice_classifier.pth"
SEGMENTATION_CHECKPOINT = CHECKPOINT_FINAL


def slice_classifier_recipe(architecture: str) -> SliceClassifierRecipe:
    """The slice-classifier recipe ``architecture``'s plugin declares; a plugin without one
    raises a :class:`CovplanError`."""
    recipe = get_architecture(architecture).slice_classifier()
    if recipe is None:
        raise CovplanError(f"architecture '{architecture}' offers no slice classifier (its plugin's "
                           f"slice_classifier() returns None); coarse_refine does")
    return recipe


def build_slice_classifier(architecture: str, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                           segmentation_weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The plugin's slice classifier on the encoder of the trained segmentation network."""
    network = get_architecture(architecture).build_network(plan, num_input_channels, num_classes)
    network.load_state_dict(segmentation_weights)
    classifier = slice_classifier_recipe(architecture).build(network)
    if not isinstance(classifier, SliceClassifierNetwork):
        raise CovplanError(f"the slice classifier of architecture '{architecture}' has no lesion_probability(images) "
                           f"method; its recipe's build() must return such a module (see docs/plugins.md)")
    return classifier


def load_slice_classifier(path: Path, architecture: str, plan: dict[str, Any], num_input_channels: int,
                          num_classes: int, segmentation_weights: dict[str, torch.Tensor],
                          device: torch.device) -> torch.nn.Module:
    """A classifier that :func:`train_slice_classifier` wrote, in evaluation mode on ``device``."""
    saved = load_checkpoint(path)
    if saved.get("kind") != "slice_classifier":
        raise CovplanError(f"{path} is not a slice classifier; train one with `covplan train-classifier`")
    classifier = build_slice_classifier(architecture, plan, num_input_channels, num_classes, segmentation_weights)
    try:
        classifier.load_state_dict(saved["classifier_weights"])
    except RuntimeError as error:
        raise CovplanError(f"{path} does not fit the fold's network ({str(error).splitlines()[0]}); train the "
                           f"classifier again (`covplan train-classifier`)") from error
    return classifier.to(device).eval()


def train_slice_classifier(work: Path, fold: Fold, architecture: str = "coarse_refine", iterations: int = 250,
                           batch_size: int | None = None, learning_rate: float | None = None,
                           oversample_foreground_percent: float = 0.5, device: str = "auto",
                           seed: int = 12345) -> Path:
    """Train the slice classifier of ``fold`` (its segmentation network trained) on random
    patches of the fold's training cases and write ``fold_F/slice_classifier.pth``; returns
    that path. A patch is positive when any of its pixels is a lesion label (lung labels do
    not count). Half the patches are drawn around foreground by default, so that the
    lesion-free patches of lesion-bearing cases do not swamp the positives."""
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    recipe = slice_classifier_recipe(architecture)
    inputs = load_training_inputs(Path(work), architecture, "2d")
    fold_folder = inputs.fold_folder(fold)
    checkpoint = load_checkpoint(fold_folder / SEGMENTATION_CHECKPOINT)
    seed_everything(seed)
    torch_device = resolve_device(device)
    labels = inputs.label_manager
    classifier = build_slice_classifier(architecture, inputs.plan, inputs.num_input_channels,
                                        labels.num_segmentation_heads, checkpoint["network_weights"]).to(torch_device)
    optimizer = recipe.optimizer(classifier, learning_rate)
    lesion_labels = torch.tensor(label_roles(inputs.dataset_json).lesion_labels or labels.foreground_labels)
    train_ids, _ = fold_case_identifiers(inputs, fold)
    folder = str(inputs.preprocessed_folder)
    patch_size = tuple(inputs.configuration_manager.patch_size)
    loader = nnUNetDataLoader(infer_dataset_class(folder)(folder, train_ids),
                              batch_size or inputs.configuration_manager.batch_size, patch_size, patch_size, labels,
                              oversample_foreground_percent=oversample_foreground_percent)
    loss = float("nan")
    for _ in trange(iterations, desc=f"slice classifier fold {fold}", unit="step"):
        batch = loader.generate_train_batch()
        lesions = torch.isin(batch["target"].long(), lesion_labels).long()
        # fp32 on every device: only a linear head learns, so mixed precision saves nothing.
        loss = recipe.training_step(classifier, optimizer, batch["data"].to(torch_device),
                                               lesions.to(torch_device))
    target = fold_folder / SLICE_CLASSIFIER_FILE
    save_checkpoint_atomically({"covplan": CHECKPOINT_FORMAT_VERSION, "kind": "slice_classifier",
                                "architecture": architecture, "fold": fold, "iterations": iterations,
                                "final_loss": loss, "classifier_weights": classifier.cpu().state_dict()}, target)
    logger.info("slice classifier of fold %s: final loss %.4f, written to %s", fold, loss, target)
    return target
