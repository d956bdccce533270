"""nnU-Net's pseudo Dice over the epochs of a run: Dice per class on each epoch's
validation patches (their true and false positives and false negatives pooled), its
moving average (which picks ``checkpoint_best.pth``), and the validation loss that early
stopping watches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from nnunetv2.training.loss.dice import get_tp_fp_fn_tn
from nnunetv2.utilities.label_handling.label_handling import LabelManager

from covplan.labels.roles import label_roles

EMA_WEIGHT = 0.9  # nnU-Net's moving average of the pseudo Dice, which picks checkpoint_best


def pseudo_dice_classes(dataset_json: dict[str, Any], label_manager: LabelManager) -> list[str]:
    """Names of the classes that get a pseudo Dice, in the order of nnU-Net's foreground
    labels (or regions, which keep dataset.json's order)."""
    if label_manager.has_regions:
        return [name for name, value in dataset_json["labels"].items() if name != "ignore" and value != 0]
    names = label_roles(dataset_json).names
    return [names[label] for label in label_manager.foreground_labels]


def confusion_counts(output: torch.Tensor, target: torch.Tensor, label_manager: LabelManager) -> torch.Tensor:
    """Hard true positives, false positives and false negatives per pseudo-Dice class of
    one batch's (full-resolution) output, as one vector ``[tp..., fp..., fn...]``."""
    if label_manager.has_regions:
        predicted = (torch.sigmoid(output) > 0.5).long()
    else:
        predicted = torch.zeros_like(output).scatter_(1, output.argmax(1, keepdim=True), 1)
    mask = None
    if label_manager.has_ignore_label and label_manager.has_regions:  # the last target map marks unlabelled voxels
        mask, target = (target[:, -1:] == 0).float(), target[:, :-1]
    elif label_manager.has_ignore_label:
        mask = (target != label_manager.ignore_label).float()
        target = torch.where(target == label_manager.ignore_label, 0, target)
    tp, fp, fn, _ = get_tp_fp_fn_tn(predicted, target, axes=[0, *range(2, output.ndim)], mask=mask)
    first = 0 if label_manager.has_regions else 1  # no Dice for the background
    return torch.cat([tp[first:], fp[first:], fn[first:]])


def pseudo_dice(tp: Sequence[float], fp: Sequence[float], fn: Sequence[float]) -> list[float]:
    """Dice per class from the true and false positives and false negatives summed over an
    epoch's validation patches; NaN for a class in neither prediction nor reference."""
    return [float(2 * t / (2 * t + p + n)) if 2 * t + p + n > 0 else math.nan for t, p, n in zip(tp, fp, fn)]


def moving_average(dice: Sequence[float], previous: float | None) -> float:
    """The next moving average of the mean pseudo Dice over the classes that have one (0
    when none has); the first epoch's mean starts it (``previous`` None)."""
    defined = [value for value in dice if not math.isnan(value)]
    mean_dice = sum(defined) / len(defined) if defined else 0.0
    previous = mean_dice if previous is None else previous
    return EMA_WEIGHT * previous + (1 - EMA_WEIGHT) * mean_dice


@dataclass
class PseudoDice:
    """The best moving-average pseudo Dice and the best validation loss so far, and the
    epochs since the latter improved. Saved in every checkpoint under these names."""

    best_ema_dice: float = -math.inf
    best_val_loss: float = math.inf
    epochs_without_improvement: int = 0

    def observe(self, row: dict[str, Any]) -> bool:
        """Count in an epoch's log row (its ``val_loss`` and ``ema_dice``); whether its
        moving-average pseudo Dice is a new best."""
        if row["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.epochs_without_improvement = row["val_loss"], 0
        else:
            self.epochs_without_improvement += 1
        new_best = row["ema_dice"] > self.best_ema_dice
        if new_best:
            self.best_ema_dice = row["ema_dice"]
        return new_best

    def patience_spent(self, patience: int | None) -> bool:
        """No better validation loss for ``patience`` epochs (never, for None)."""
        return patience is not None and self.epochs_without_improvement >= patience

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PseudoDice:
        """The bookkeeping a checkpoint (or :meth:`record`) saved."""
        return cls(record["best_ema_dice"], record["best_val_loss"], record["epochs_without_improvement"])
