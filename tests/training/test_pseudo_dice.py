"""The pseudo Dice's bookkeeping: Dice from pooled counts, its moving average, the best
epoch and early stopping's patience, and their round trip through a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from covplan.training.pseudo_dice import EMA_WEIGHT, PseudoDice, confusion_counts, moving_average, pseudo_dice


def test_dice_from_pooled_counts_is_nan_for_a_class_in_neither_prediction_nor_reference():
    dice = pseudo_dice([3.0, 0.0, 0.0], [1.0, 2.0, 0.0], [1.0, 0.0, 0.0])
    assert dice[:2] == [pytest.approx(6 / 8), 0.0] and math.isnan(dice[2])


def test_the_moving_average_starts_at_the_first_mean_and_skips_undefined_classes():
    first = moving_average([0.5, math.nan, 0.7], None)
    assert first == pytest.approx(0.6)
    assert moving_average([1.0], first) == pytest.approx(EMA_WEIGHT * 0.6 + (1 - EMA_WEIGHT) * 1.0)
    assert moving_average([math.nan], None) == 0.0


def test_best_epoch_and_patience_follow_the_log_rows_and_survive_a_checkpoint():
    book = PseudoDice()
    assert book.observe({"val_loss": 1.0, "ema_dice": 0.2})
    assert not book.observe({"val_loss": 1.5, "ema_dice": 0.1})
    assert not book.observe({"val_loss": 1.2, "ema_dice": 0.2})
    assert (book.best_ema_dice, book.best_val_loss, book.epochs_without_improvement) == (0.2, 1.0, 2)
    assert book.patience_spent(2) and not book.patience_spent(3) and not book.patience_spent(None)
    assert book.observe({"val_loss": 0.5, "ema_dice": 0.3}) and book.epochs_without_improvement == 0
    assert PseudoDice.from_record({"epoch": 4, **book.record()}) == book


class Labels:
    """The label-manager fields confusion_counts reads: labels 0, 1 and 2, no regions."""

    has_regions, has_ignore_label, ignore_label = False, False, None


def test_confusion_counts_leave_out_the_background():
    output = torch.zeros(1, 3, 2, 2)
    output[0, 1, 0, :] = 1.0  # class 1 predicted in the top row
    output[0, 2, 1, 0] = 1.0  # class 2 in the bottom-left pixel
    target = torch.tensor([[[[1, 0], [2, 2]]]])
    tp, fp, fn = confusion_counts(output, target, Labels()).reshape(3, 2)
    assert tp.tolist() == [1, 1] and fp.tolist() == [1, 0] and fn.tolist() == [0, 1]
