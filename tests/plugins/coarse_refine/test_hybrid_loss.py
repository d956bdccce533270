"""The hybrid BCE + SSIM + IoU loss against values computed by hand."""

import math

import pytest
import torch

from covplan.losses.base import get_loss
from covplan.errors import CovplanError
from covplan_coarse_refine.loss import (
    SSIM_C1, gaussian_window, hybrid_loss, one_hot_targets, soft_iou, ssim_map,
)

CERTAIN = 30.0  # a logit whose sigmoid is 1 to float precision


def confident_logits(label_map: torch.Tensor, num_classes: int) -> torch.Tensor:
    return (2 * one_hot_targets(label_map, num_classes) - 1) * CERTAIN


def hybrid(plan=None, output_weights=None):
    return get_loss("hybrid_bce_ssim_iou").build_loss(plan or {"patch_size": [16, 16]}, 3, output_weights)


def test_gaussian_window_is_normalised_11_by_11_with_its_peak_in_the_centre():
    window = gaussian_window()
    assert window.shape == (11, 11)
    assert window.sum().item() == pytest.approx(1.0)
    assert window.argmax().item() == 5 * 11 + 5


def test_ssim_of_identical_images_is_one():
    image = torch.rand(2, 3, 20, 17, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ssim_map(image, image), torch.ones_like(image), atol=1e-4)


def test_ssim_of_two_constant_images_away_from_the_border():
    # Inside the image the local variances vanish, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    first, second = torch.full((1, 1, 21, 21), 0.2), torch.full((1, 1, 21, 21), 0.6)
    expected = (2 * 0.2 * 0.6 + SSIM_C1) / (0.2**2 + 0.6**2 + SSIM_C1)
    assert ssim_map(first, second)[0, 0, 10, 10].item() == pytest.approx(expected, rel=1e-4)


def test_iou_of_a_known_overlap():
    prediction = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    target = torch.tensor([[[[0.0, 1.0, 1.0, 0.0]]]])
    assert soft_iou(prediction, target, smooth=0).item() == pytest.approx(1 / 3)
    assert soft_iou(prediction, target).item() == pytest.approx((1 + 1) / (3 + 1))
    assert soft_iou(0.5 * target, target, smooth=0).item() == pytest.approx(1 / 2)


def test_iou_of_a_class_absent_from_target_and_prediction_is_one():
    assert soft_iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)).item() == 1.0


def test_perfect_prediction_costs_nothing():
    labels = torch.tensor([[[[0, 1, 1, 2], [0, 0, 2, 2], [1, 1, 0, 0], [0, 2, 2, 1]]]])
    assert hybrid_loss(confident_logits(labels, 3), labels).item() == pytest.approx(0.0, abs=1e-4)


def ssim_and_iou_terms(logits: torch.Tensor, labels: torch.Tensor) -> float:
    probabilities, targets = torch.sigmoid(logits), one_hot_targets(labels, logits.shape[1])
    return ((1 - ssim_map(probabilities, targets).mean()) + (1 - soft_iou(probabilities, targets).mean())).item()


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(("logits", "labels", "bce_by_hand"), [
    # Logit 0 everywhere: probability 1/2 in every map, BCE = log 2.
    (torch.zeros(1, 2, 1, 2), torch.tensor([[[[0, 1]]]]), math.log(2)),
    # One pixel of class 1 with logits (3, -3): wrong in both maps.
    (torch.tensor([[[[3.0]], [[-3.0]]]]), torch.ones(1, 1, 1, 1, dtype=torch.long),
     -(math.log(1 - sigmoid(3)) + math.log(sigmoid(-3))) / 2),
    # Two pixels, classes 0 and 2, logits per class map (2, -1), (0, 0), (-1, 1).
    (torch.tensor([[[[2.0, -1.0]], [[0.0, 0.0]], [[-1.0, 1.0]]]]), torch.tensor([[[[0, 2]]]]),
     -(math.log(sigmoid(2)) + math.log(1 - sigmoid(-1)) + 2 * math.log(0.5)
       + math.log(1 - sigmoid(-1)) + math.log(sigmoid(1))) / 6),
])
def test_bce_term_by_hand(logits, labels, bce_by_hand):
    bce = hybrid_loss(logits, labels).item() - ssim_and_iou_terms(logits, labels)
    assert bce == pytest.approx(bce_by_hand, rel=1e-5)


def test_several_outputs_are_weighted_and_summed():
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 3, (2, 1, 16, 16), generator=generator)
    final, coarse = torch.randn(2, 3, 16, 16, generator=generator), torch.randn(2, 3, 16, 16, generator=generator)
    summed = hybrid(output_weights=[1.0, 1.0])([final, coarse], [labels, labels])
    assert summed.item() == pytest.approx((hybrid_loss(final, labels) + hybrid_loss(coarse, labels)).item())
    weighted = hybrid(output_weights=[1.0, 0.0])([final, coarse], [labels, labels])
    assert weighted.item() == pytest.approx(hybrid_loss(final, labels).item())
    assert hybrid()(final, labels).item() == pytest.approx(hybrid_loss(final, labels).item())


def test_worse_predictions_cost_more():
    labels = torch.zeros(1, 1, 16, 16, dtype=torch.long)
    labels[..., 4:12, 4:12] = 1
    perfect = confident_logits(labels, 2)
    shifted = confident_logits(labels.roll(3, dims=-1), 2)
    assert hybrid_loss(perfect, labels) < hybrid_loss(shifted, labels) < hybrid_loss(-perfect, labels)


def test_three_dimensional_plans_are_refused():
    with pytest.raises(CovplanError, match="2D slices only"):
        hybrid({"patch_size": [16, 16, 16]})
