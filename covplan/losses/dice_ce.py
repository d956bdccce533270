"""``dice_ce``: nnU-Net's soft Dice + cross-entropy loss, reused from nnunetv2; soft Dice +
binary cross-entropy on sigmoid outputs for regions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

from covplan.hookspecs import hookimpl
from covplan.losses.base import LossPlugin, weighted_over_outputs

if TYPE_CHECKING:
    from nnunetv2.utilities.label_handling.label_handling import LabelManager


class DiceCELoss(LossPlugin):
    """nnU-Net's soft Dice (background excluded) + cross-entropy, with deep supervision."""

    name = "dice_ce"
    supports_ignore_label = True
    supports_regions = True

    def build_loss(self, plan: dict[str, Any], num_classes: int, output_weights: Sequence[float] | None = None,
                   label_manager: LabelManager | None = None) -> nn.Module:
        from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss
        from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

        # The settings of nnUNetTrainer._build_loss, for labels and for regions.
        batch_dice = plan.get("batch_dice", True)
        ignore_label = label_manager.ignore_label if label_manager is not None else None
        if label_manager is not None and label_manager.has_regions:
            loss = DC_and_BCE_loss({}, {"batch_dice": batch_dice, "do_bg": True, "smooth": 1e-5, "ddp": False},
                                   use_ignore_label=ignore_label is not None, dice_class=MemoryEfficientSoftDiceLoss)
        else:
            loss = DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                                  weight_ce=1, weight_dice=1, ignore_label=ignore_label,
                                  dice_class=MemoryEfficientSoftDiceLoss)
        return weighted_over_outputs(loss, output_weights)


@hookimpl
def register_losses(register):
    register(DiceCELoss())
