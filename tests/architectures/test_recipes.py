import pytest
import torch
from torch import nn

from covplan.architectures.recipes import adam_reduce_on_plateau, nnunet_sgd_poly, step_scheduler


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


def test_plateau_recipe_cuts_by_ten_after_patience_epochs_down_to_a_hundredth():
    optimizer, scheduler = adam_reduce_on_plateau(nn.Linear(2, 2), initial_lr=1e-3, patience_epochs=2)
    assert isinstance(optimizer, torch.optim.Adam)
    rates = []
    for train_loss in [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]:
        step_scheduler(scheduler, train_loss)
        rates.append(current_lr(optimizer))
    # Improving at epoch 2, then two epochs of patience; the third flat epoch cuts.
    assert rates[:4] == [1e-3, 1e-3, 1e-3, 1e-3]
    assert rates[4] == pytest.approx(1e-4)
    assert rates[-1] == pytest.approx(1e-5)
    assert min(rates) == pytest.approx(1e-5)


def test_plateau_recipe_takes_an_explicit_floor():
    optimizer, scheduler = adam_reduce_on_plateau(nn.Linear(2, 2), initial_lr=1e-4, patience_epochs=0, min_lr=5e-5)
    for _ in range(3):
        step_scheduler(scheduler, 1.0)
    assert current_lr(optimizer) == pytest.approx(5e-5)


def test_other_schedules_are_stepped_without_the_loss():
    optimizer, scheduler = nnunet_sgd_poly(nn.Linear(2, 2), num_epochs=10, initial_lr=1e-2)
    step_scheduler(scheduler, 123.0)
    assert current_lr(optimizer) == pytest.approx(1e-2 * (1 - 1 / 10) ** 0.9)
