"""``dice_ce``: nnU-Net's soft Dice + cross-entropy loss, reused from nnunetv2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from covplan.hookspecs import hookimpl
from covplan.losses.base import LossPlugin, weighted_over_outputs


class DiceCELoss(LossPlugin):
    """nnU-Net's soft Dice (background excluded) + cross-entropy, with deep supervision."""

    name = "dice_ce"

    def build_loss(self, plan: dict[str, Any], num_classes: int,
                   output_weights: Sequence[float] | None = None) -> nn.Module:
        from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
        from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

        # The same settings as nnUNetTrainer._build_loss for label (not region) training.
        loss = DC_and_CE_loss(
            {"batch_dice": plan.get("batch_dice", True), "smooth": 1e-5, "do_bg": False, "ddp": False},
            {}, weight_ce=1, weight_dice=1, ignore_label=None, dice_class=MemoryEfficientSoftDiceLoss,
        )
        return weighted_over_outputs(loss, output_weights)


@hookimpl
def register_losses(register):
    register(DiceCELoss())
