"""``tversky_ce``: multi-class Tversky + categorical cross-entropy, the loss of the
standard 3D U-Net (Müller et al., MIScnn) and of the QC-HC U-Net.

    L = L_Tversky + L_CCE,   L_Tversky = N - sum_c TP_c / (TP_c + alpha * FN_c + beta * FP_c)

over all N classes, background included, with soft TP/FN/FP from the softmax
probabilities. With alpha = beta = 0.5 each class term is the soft Dice of that class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from covplan.hookspecs import hookimpl
from covplan.losses.base import LossPlugin, weighted_over_outputs

if TYPE_CHECKING:
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

# MIScnn's smoothing term: keeps an empty class (no voxel predicted, none present) at a
# Tversky index of 1, i.e. counted as perfectly segmented.
SMOOTH = 1e-6


class TverskyCrossEntropy(nn.Module):
    """Tversky loss + cross-entropy on logits ``(B, C, *spatial)`` and an integer label
    map ``(B, 1, *spatial)``; voxels labelled ``ignore_label`` count in neither term."""

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, smooth: float = SMOOTH,
                 ignore_label: int | None = None):
        super().__init__()
        from nnunetv2.training.loss.robust_ce_loss import RobustCrossEntropyLoss

        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth
        self.ignore_label = ignore_label
        # -100 is PyTorch's default: no voxel carries it.
        self.cross_entropy = RobustCrossEntropyLoss(ignore_index=-100 if ignore_label is None else ignore_label)

    def tversky(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """N - sum_c of the Tversky index of each class, per sample, averaged over the
        batch (MIScnn sums TP, FN and FP over the spatial axes of each sample), over the
        voxels where ``mask`` is true."""
        from nnunetv2.training.loss.dice import get_tp_fp_fn_tn

        probabilities = torch.softmax(logits.float(), dim=1)
        tp, fp, fn, _ = get_tp_fp_fn_tn(probabilities, target, mask=mask)
        index = (tp + self.smooth) / (tp + self.alpha * fn + self.beta * fp + self.smooth)
        return (logits.shape[1] - index.sum(dim=1)).mean()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.ignore_label is None:
            return self.tversky(logits, target) + self.cross_entropy(logits, target)
        # As nnU-Net's DC_and_CE_loss: unlabelled voxels become background for the
        # overlap counts, then the mask removes them again.
        labelled = target != self.ignore_label
        tversky = self.tversky(logits, torch.where(labelled, target, 0), mask=labelled)
        return tversky + self.cross_entropy(logits, target)


class TverskyCELoss(LossPlugin):
    """Multi-class Tversky (alpha = beta = 0.5) + categorical cross-entropy (method A, QC-HC)."""

    name = "tversky_ce"
    supports_ignore_label = True

    def refusal(self, label_manager: LabelManager) -> str | None:
        if label_manager.has_regions:
            return "its categorical cross-entropy needs one label per voxel, and regions overlap"
        return super().refusal(label_manager)

    def build_loss(self, plan: dict[str, Any], num_classes: int, output_weights: Sequence[float] | None = None,
                   label_manager: LabelManager | None = None) -> nn.Module:
        ignore_label = label_manager.ignore_label if label_manager is not None else None
        return weighted_over_outputs(TverskyCrossEntropy(ignore_label=ignore_label), output_weights)


@hookimpl
def register_losses(register):
    register(TverskyCELoss())
