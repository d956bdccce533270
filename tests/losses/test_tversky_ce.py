import pytest
import torch

from covplan.losses.base import get_loss, losses
from covplan.losses.tversky_ce import SMOOTH, TverskyCELoss, TverskyCrossEntropy
from tests.losses.by_hand import CONFIDENT, confident_logits, random_case


def test_is_registered_through_the_hook_and_names_method_a():
    assert isinstance(get_loss("tversky_ce"), TverskyCELoss)
    assert losses()["tversky_ce"].source.distribution == "covplan"


def test_half_half_tversky_is_soft_dice_over_all_classes():
    logits, labels, probabilities, one_hot = random_case()
    # Soft Dice per sample and class, by hand: 2 |P.G| / (|P| + |G|).
    intersection = (probabilities * one_hot).sum((2, 3))
    dice = (2 * intersection + SMOOTH) / (probabilities.sum((2, 3)) + one_hot.sum((2, 3)) + SMOOTH)
    expected_tversky = (3 - dice.sum(1)).mean()
    expected_ce = -(torch.log(probabilities) * one_hot).sum(1).mean()
    loss = TverskyCrossEntropy()
    assert loss.tversky(logits, labels).item() == pytest.approx(expected_tversky.item(), rel=1e-5)
    assert loss(logits, labels).item() == pytest.approx((expected_tversky + expected_ce).item(), rel=1e-5)


def test_perfect_prediction_costs_nothing():
    labels = torch.tensor([[[[0, 1, 1], [2, 2, 0]]]])
    assert TverskyCrossEntropy()(confident_logits(labels, 3), labels).item() == pytest.approx(0, abs=1e-5)


def test_empty_class_counts_as_perfect_unless_predicted():
    labels = torch.tensor([[[[0, 0, 1, 1]]]])  # class 2 absent
    loss = TverskyCrossEntropy()
    assert loss.tversky(confident_logits(labels, 3), labels).item() == pytest.approx(0, abs=1e-5)
    # One background voxel predicted as class 2: background TP 1, FN 1 -> 1 / (1 + 0.5);
    # class 2 has one FP and no TP -> index ~0, so it costs a whole 1.
    predicted = torch.tensor([[[[0, 2, 1, 1]]]])
    expected = 3 - (1 / 1.5 + 1 + 0)
    assert loss.tversky(confident_logits(predicted, 3), labels).item() == pytest.approx(expected, abs=1e-5)


def test_known_overlap_with_asymmetric_weights():
    labels = torch.tensor([[[[1, 1, 1, 1, 0, 0, 0, 0]]]])
    predicted = torch.tensor([[[[1, 1, 0, 0, 1, 0, 0, 0]]]])
    # class 1: TP 2, FN 2, FP 1; background: TP 3, FN 1, FP 2.
    alpha, beta = 0.7, 0.3
    expected = 2 - (2 / (2 + alpha * 2 + beta * 1) + 3 / (3 + alpha * 1 + beta * 2))
    loss = TverskyCrossEntropy(alpha=alpha, beta=beta)
    assert loss.tversky(confident_logits(predicted, 2), labels).item() == pytest.approx(expected, abs=1e-5)
    # Three of eight voxels wrong, each costing ~CONFIDENT.
    assert loss(confident_logits(predicted, 2), labels).item() == pytest.approx(expected + 3 * CONFIDENT / 8,
                                                                                rel=1e-5)


def test_output_weights_sum_the_losses_of_each_output():
    torch.manual_seed(0)
    logits = [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4), torch.randn(2, 3, 2, 2)]
    labels = [torch.randint(0, 3, (2, 1, 8, 8)), torch.randint(0, 3, (2, 1, 4, 4)), torch.randint(0, 3, (2, 1, 2, 2))]
    weights = [0.6, 0.4, 0.0]
    single = TverskyCELoss().build_loss({}, 3)
    expected = 0.6 * single(logits[0], labels[0]) + 0.4 * single(logits[1], labels[1])
    assert TverskyCELoss().build_loss({}, 3, weights)(logits, labels).item() == pytest.approx(expected.item())


def test_gradient_pushes_towards_the_label():
    labels = torch.tensor([[[[0, 1], [1, 0]]]])
    logits = torch.zeros(1, 2, 2, 2, requires_grad=True)
    TverskyCrossEntropy()(logits, labels).backward()
    # Raising the true class's logit lowers the loss everywhere.
    true_class_gradient = logits.grad.gather(1, labels)
    assert (true_class_gradient < 0).all()
