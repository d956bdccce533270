"""A fold's run state: how far its run has come (epochs, log rows, pseudo-Dice
bookkeeping, time budget, seconds trained), what a checkpoint saves of it beside the
network and optimiser (in a form nnU-Net's predictor loads), and the checkpoint a resumed
run continues from."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from covplan.architectures.base import architectures
from covplan.errors import CovplanError
from covplan.losses.base import losses
from covplan.training.budget_clock import BudgetClock
from covplan.training.checkpoints import capture_rng_state, load_checkpoint
from covplan.training.inputs import TrainingInputs
from covplan.training.pseudo_dice import PseudoDice
from covplan.work_folder import CHECKPOINT_LATEST, Fold

logger = logging.getLogger(__name__)


@dataclass
class RunState:
    """How far a fold's run has come: what a checkpoint saves beside the weights and the
    optimiser, and what a resumed run continues from."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # the training log's rows
    pseudo_dice: PseudoDice = field(default_factory=PseudoDice)
    budget: BudgetClock | None = None
    elapsed_before_s: float = 0.0  # trained by the runs this one resumed
    # The fold's time counts from here, the trainer's start: building the network and
    # loaders is part of it.
    started: float = field(default_factory=time.monotonic)
    first_epoch: int = 0  # this run's first epoch: a resumed run's is its checkpoint's
    last_saved: float = field(init=False)  # when the checkpoints were last written

    def __post_init__(self) -> None:
        self.last_saved = self.started

    @property
    def elapsed_s(self) -> float:
        """Seconds the fold has trained so far, over this run and the runs it resumed."""
        return self.elapsed_before_s + time.monotonic() - self.started

    def record(self) -> dict[str, Any]:
        """The checkpoint's keys of the run state (the budget as its clock's state)."""
        return {"epoch": self.epoch, "history": self.history, **self.pseudo_dice.record(),
                "budget": self.budget.state() if self.budget is not None else None}

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from the run state ``checkpoint`` saved (its budget: see ``start_clock``)."""
        self.epoch = self.first_epoch = checkpoint["epoch"]
        self.history = list(checkpoint["history"])
        self.pseudo_dice = PseudoDice.from_record(checkpoint)
        self.elapsed_before_s = float(self.history[-1].get("elapsed_s") or 0.0) if self.history else 0.0


def provenance(architecture: str, loss: str) -> dict[str, dict[str, str]]:
    """Name, distribution and version of the architecture and of the loss plugin."""
    sources = {"architecture": (architecture, architectures()[architecture].source),
               "loss": (loss, losses()[loss].source)}
    return {kind: {"name": name, "distribution": source.distribution, "version": source.version}
            for kind, (name, source) in sources.items()}


def optimisation_state(network: nn.Module, optimizer: torch.optim.Optimizer, lr_scheduler: Any,
                       grad_scaler: torch.amp.GradScaler | None) -> dict[str, Any]:
    """Weights, optimiser, learning-rate schedule, gradient scaler and random state."""
    return {
        "network_weights": network.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "lr_scheduler_state": lr_scheduler.state_dict(),
        "grad_scaler_state": grad_scaler.state_dict() if grad_scaler is not None else None,
        "rng_state": capture_rng_state(),
    }


def load_optimisation_state(checkpoint: dict[str, Any], network: nn.Module, optimizer: torch.optim.Optimizer,
                            lr_scheduler: Any, grad_scaler: torch.amp.GradScaler | None) -> None:
    """Load what :func:`optimisation_state` saved, but the random state (which only the
    first process of a run restores)."""
    network.load_state_dict(checkpoint["network_weights"])
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    lr_scheduler.load_state_dict(checkpoint["lr_scheduler_state"])
    if grad_scaler is not None and checkpoint["grad_scaler_state"] is not None:
        grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])


def nnunet_keys(inputs: TrainingInputs, fold: Fold, mirror_axes: tuple[int, ...]) -> dict[str, Any]:
    """The keys nnU-Net's predictor reads, so that nnunetv2 can load covplan's checkpoints."""
    return {"init_args": {"plans": inputs.plans, "configuration": inputs.configuration, "fold": fold,
                          "dataset_json": inputs.dataset_json},
            "trainer_name": "nnUNetTrainer",
            "inference_allowed_mirroring_axes": mirror_axes}


def checkpoint_to_resume(inputs: TrainingInputs, fold: Fold, device: torch.device, resume: bool,
                         time_budget_s: float | None) -> dict[str, Any] | None:
    """The fold's latest checkpoint when ``resume`` asks for it and there is one. A fold
    trained without a time budget is not resumed with one, nor a fold of other plans."""
    fold_folder = inputs.fold_folder(fold)
    latest = fold_folder / CHECKPOINT_LATEST
    if not latest.is_file():
        if resume:
            logger.warning("nothing to resume in %s (no checkpoint_latest.pth); training from the start",
                           fold_folder)
        return None
    if not resume:
        logger.warning("%s holds a trained run; training from the start replaces it (--resume continues it)",
                       fold_folder)
        return None
    checkpoint = load_checkpoint(latest, device)
    if checkpoint.get("budget") is None and time_budget_s is not None:
        raise CovplanError(f"{fold_folder} was trained without --time-budget; resume it without "
                           f"--time-budget, or train it again without --resume")
    if checkpoint["init_args"]["plans"] != inputs.plans:
        raise CovplanError(f"the checkpoint in {fold_folder} was trained with other plans than "
                           f"{inputs.work}; train again without --resume")
    return checkpoint
