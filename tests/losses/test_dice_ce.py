import pytest
import torch

from covplan.losses.base import get_loss
from tests.losses.by_hand import CONFIDENT, confident_logits, random_case

SMOOTH = 1e-5  # nnU-Net's


def test_matches_batch_soft_dice_without_background_plus_cross_entropy_by_hand():
    logits, labels, probabilities, one_hot = random_case()
    # Batch Dice: sums over batch and space, foreground classes only, averaged.
    intersection = (probabilities * one_hot).sum((0, 2, 3))[1:]
    sizes = probabilities.sum((0, 2, 3))[1:] + one_hot.sum((0, 2, 3))[1:]
    dice = ((2 * intersection + SMOOTH) / (sizes + SMOOTH)).mean()
    cross_entropy = -(torch.log(probabilities) * one_hot).sum(1).mean()
    loss = get_loss("dice_ce").build_loss({"batch_dice": True}, 3)
    assert loss(logits, labels).item() == pytest.approx((cross_entropy - dice).item(), rel=1e-5)


def test_perfect_prediction_scores_minus_one():
    labels = torch.tensor([[[[0, 1, 1], [2, 2, 0]]]])
    loss = get_loss("dice_ce").build_loss({}, 3)
    assert loss(confident_logits(labels, 3), labels).item() == pytest.approx(-1, abs=1e-5)


def test_known_overlap():
    labels = torch.tensor([[[[1, 1, 1, 1, 0, 0, 0, 0]]]])
    predicted = torch.tensor([[[[1, 1, 0, 0, 1, 0, 0, 0]]]])
    # Foreground: TP 2, |P| 3, |G| 4 -> Dice 4/7; three of eight voxels cost ~CONFIDENT each.
    expected = 3 * CONFIDENT / 8 - (4 + SMOOTH) / (7 + SMOOTH)
    loss = get_loss("dice_ce").build_loss({}, 2)
    assert loss(confident_logits(predicted, 2), labels).item() == pytest.approx(expected, rel=1e-5)


def test_output_weights_sum_the_losses_of_each_output():
    torch.manual_seed(0)
    logits = [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4)]
    labels = [torch.randint(0, 3, (2, 1, 8, 8)), torch.randint(0, 3, (2, 1, 4, 4))]
    plugin = get_loss("dice_ce")
    single = plugin.build_loss({}, 3)
    expected = 0.75 * single(logits[0], labels[0]) + 0.25 * single(logits[1], labels[1])
    assert plugin.build_loss({}, 3, [0.75, 0.25])(logits, labels).item() == pytest.approx(expected.item())
