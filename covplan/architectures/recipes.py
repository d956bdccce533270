"""Optimiser and learning-rate schedule recipes an architecture's
``configure_optimizers`` returns, shared by plugins and presets.

The trainer steps the schedule once per epoch through :func:`step_scheduler`: a
reduce-on-plateau schedule is told the epoch's mean training loss (the papers reduce the
rate when the *training* loss stops improving), every other schedule is stepped plainly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

# Method A (Müller et al.): x0.1 after 15 epochs without improvement of the training
# loss, from 1e-3 down to 1e-5, i.e. at most two reductions.
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE_EPOCHS = 15
PLATEAU_MIN_LR_RATIO = 1e-2


def nnunet_sgd_poly(network: nn.Module, num_epochs: int, initial_lr: float = 1e-2
                    ) -> tuple[torch.optim.Optimizer, LRScheduler]:
    """nnU-Net's default: SGD with Nesterov momentum 0.99, weight decay 3e-5 and
    polynomial decay (exponent 0.9) over ``num_epochs``."""
    from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

    optimizer = torch.optim.SGD(network.parameters(), initial_lr, weight_decay=3e-5, momentum=0.99, nesterov=True)
    return optimizer, PolyLRScheduler(optimizer, initial_lr, num_epochs)


def adam_reduce_on_plateau(network: nn.Module, initial_lr: float, patience_epochs: int = PLATEAU_PATIENCE_EPOCHS,
                           min_lr: float | None = None) -> tuple[torch.optim.Optimizer, ReduceLROnPlateau]:
    """Adam with the rate cut by x0.1 when the training loss has not improved for
    ``patience_epochs`` epochs, down to ``min_lr`` (default: ``initial_lr / 100``, method
    A's 1e-3 -> 1e-5). Method A uses ``initial_lr=1e-3``, the QC-HC U-Net ``1e-4``.

    The paper's "weight decay" of 1e-3 is Keras' name for Adam's initial rate in MIScnn,
    not an L2 penalty, so Adam gets no weight decay here."""
    optimizer = torch.optim.Adam(network.parameters(), initial_lr)
    floor = initial_lr * PLATEAU_MIN_LR_RATIO if min_lr is None else min_lr
    scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=PLATEAU_FACTOR, patience=patience_epochs,
                                  min_lr=floor)
    return optimizer, scheduler


def step_scheduler(scheduler: LRScheduler, epoch_train_loss: float) -> None:
    """Advance ``scheduler`` by one epoch: a :class:`ReduceLROnPlateau` needs the metric
    it watches (the epoch's mean training loss), every other schedule takes none."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(epoch_train_loss)
    else:
        scheduler.step()
