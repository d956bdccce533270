"""The settings of a training run: everything about it that the plans do not say, as
values of one dataclass, never as subclasses of the trainer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class TrainingSettings:
    """Everything about a run that the plans do not say. The defaults are nnU-Net's."""

    num_epochs: int = 1000
    iterations_per_epoch: int = 250
    validation_iterations: int = 50
    # Seconds for the whole fold, its final validation included: epochs, iterations and
    # validation iterations are then fitted to it (covplan.planning.schedule).
    time_budget_s: float | None = None
    loss: str | None = None  # None: the architecture plugin's default_loss
    initial_lr: float | None = None  # None: the plugin's configure_optimizers default
    augmentation: str = "nnunet"  # see covplan.training.data.AUGMENTATIONS
    oversample_foreground_percent: float = 0.33
    num_workers: int | None = None  # None: nnU-Net's nnUNet_n_proc_DA, capped by the cores
    seed: int = 12345
    device: str = "auto"
    compile: bool | None = None  # None: on CUDA, as nnU-Net (covplan.training.compiled_network)
    evaluate: bool = True  # predict the fold's validation cases after training
    test_time_mirroring: bool = True  # in that prediction, as nnU-Net's validation does
    trackers: tuple[str, ...] = ()  # experiment trackers to report to (covplan.tracking), beside the CSV log
    tracking_uri: str | None = None  # where a tracker with a store or server writes; None: its default
    # What a search (covplan tune) may change in the plan: the batch size (None: the plan's) and
    # the values of the architecture plugin's search_space(), which build_network finds in
    # plan["architecture_params"]. Both are written into the model folder's plans.json, so
    # prediction and nnU-Net rebuild the network that was trained.
    batch_size: int | None = None
    architecture_params: dict[str, Any] | None = None
    # Called as on_epoch_end(epoch, row) after each epoch's log row is written; what it
    # raises stops the fold (a search prunes a trial this way). Not part of any record.
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)

    def record(self) -> dict[str, Any]:
        """The settings as plain values, for checkpoints, trackers and settings files."""
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name != "on_epoch_end"}
