"""covplan plugin: method C's coarse-refine network (``coarse_refine``), its hybrid
BCE + SSIM + IoU loss (``hybrid_bce_ssim_iou``) and the slice classifier built on the
trained network (:mod:`covplan_coarse_refine.classifier`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

import covplan
from covplan.architectures.inference import fold_batch_norm
from covplan.architectures.slice_classifier import SliceClassifierRecipe
from covplan.errors import CovplanError
from covplan_coarse_refine.classifier import CoarseRefineSliceClassifier
from covplan_coarse_refine.loss import HybridBceSsimIouLoss
from covplan_coarse_refine.network import CoarseRefineNet

if TYPE_CHECKING:
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

PAPER_BASE_WIDTH = 64
PAPER_LEARNING_RATE = 3e-4


def base_width_from_plan(plan: dict[str, Any]) -> int:
    """The network's base width: the first stage's feature count the planner chose (64
    unless memory made it smaller), or the paper's 64 for a plan without a topology."""
    features_per_stage = plan.get("architecture", {}).get("arch_kwargs", {}).get("features_per_stage")
    return int(features_per_stage[0]) if features_per_stage else PAPER_BASE_WIDTH


def check_patch_size(plan: dict[str, Any], what: str) -> None:
    """Refuse a plan whose patch is not 2D, naming ``what`` cannot take it."""
    patch_size = plan.get("patch_size")
    if patch_size is not None and len(patch_size) != 2:
        raise CovplanError(f"{what} works on 2D slices only, but the plan's patch size is {list(patch_size)}; "
                           f"plan the 2d configuration for it")


class CoarseRefine(covplan.ArchitecturePlugin):
    """Coarse-refine network (method C): SE-ResNet-34 U-Net with ASPP bridge and BASNet residual refinement.

    The topology is fixed by the design (input layer, SE-ResNet-34's 3/4/6/3 blocks with
    three down-samplings, ASPP rates 3/6/9, three convolutions per decoder stage, four
    refinement stages); of the planner's topology only the base width
    (``features_per_stage[0]``) is used. Outputs are per-class sigmoid maps.
    """

    name = "coarse_refine"
    dims = (2,)
    default_loss = "hybrid_bce_ssim_iou"
    output_activation = "sigmoid"
    base_num_features = PAPER_BASE_WIDTH
    max_num_features = 8 * PAPER_BASE_WIDTH
    # Epochs without improvement of the validation loss before the trainer stops: the
    # paper stops early (at most 200 epochs) without giving a patience; 20 is covplan's.
    early_stopping_patience = 20

    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        check_patch_size(plan, "coarse_refine")
        patch_size = plan.get("patch_size")
        if patch_size is not None and min(patch_size) < CoarseRefineNet.min_input_size:
            raise CovplanError(f"coarse_refine needs patches of at least {CoarseRefineNet.min_input_size} pixels "
                               f"per axis (its refinement module pools four times), but the plan's patch size is "
                               f"{list(patch_size)}; plan a larger patch")
        return CoarseRefineNet(num_input_channels, num_classes, base_width_from_plan(plan), deep_supervision)

    def inference_network(self, network: nn.Module) -> nn.Module:
        """The same network with every batch norm folded into its convolution and the
        weights in channels-last memory format: on CPU, oneDNN's convolutions (over 80 %
        of this network's time) then skip reordering every 64- to 512-channel feature map,
        and the batch-norm passes disappear; together about 1.5 times faster, same logits
        up to float rounding (see docs/architectures/coarse_refine.md, "Prediction speed")."""
        return fold_batch_norm(network).to(memory_format=torch.channels_last)

    def slice_classifier(self) -> SliceClassifierRecipe:
        """The paper's classifier on the trained encoder (:mod:`covplan_coarse_refine.classifier`)."""
        return CoarseRefineSliceClassifier()

    def output_weights(self, num_outputs: int) -> list[float]:
        """The paper sums the losses of the final and the coarse map: every weight is 1."""
        return [1.0] * num_outputs

    def configure_optimizers(self, network: nn.Module, num_epochs: int, initial_lr: float | None = None
                             ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam at the paper's 3e-4 with a constant rate: the paper names no schedule and
        ends training by early stopping (see ``early_stopping_patience``)."""
        lr = PAPER_LEARNING_RATE if initial_lr is None else initial_lr
        optimizer = torch.optim.Adam(network.parameters(), lr=lr)
        return optimizer, torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=num_epochs)


class HybridBceSsimIou(covplan.LossPlugin):
    """BASNet's hybrid loss: BCE + SSIM + IoU per class on sigmoid maps, summed over the outputs."""

    name = "hybrid_bce_ssim_iou"
    dims = (2,)  # its SSIM compares 11 x 11 windows of 2D maps
    supports_regions = True

    def refusal(self, label_manager: LabelManager) -> str | None:
        if label_manager.has_ignore_label:
            return "its SSIM term compares 11 x 11 windows, which unlabelled pixels would corrupt"
        return super().refusal(label_manager)

    def build_loss(self, plan: dict[str, Any], num_classes: int, output_weights: Sequence[float] | None = None,
                   label_manager: LabelManager | None = None) -> nn.Module:
        check_patch_size(plan, "hybrid_bce_ssim_iou (2D SSIM)")
        return HybridBceSsimIouLoss(output_weights, regions=label_manager is not None and label_manager.has_regions)


@covplan.hookimpl
def register_architectures(register):
    register(CoarseRefine())


@covplan.hookimpl
def register_losses(register):
    register(HybridBceSsimIou())
