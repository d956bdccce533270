"""The one trainer: every architecture plugin with every loss plugin, on nnU-Net's data
pipeline. Epochs, learning rate, augmentation and the rest are values of
:class:`~covplan.training.settings.TrainingSettings`, never subclasses. The trainer sets a
run up and runs its steps and epochs; :mod:`covplan.training.fold_runner` runs a whole fold
with it (as nnunetv2 keeps ``run_training.py`` apart from its trainer)."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from covplan.architectures.base import get_architecture
from covplan.architectures.recipes import step_scheduler
from covplan.errors import CovplanError
from covplan.losses.base import build_plugin_loss, check_loss_supports_dims, check_loss_supports_labels, get_loss
from covplan.planning.schedule import CHECKPOINT_INTERVAL_S
from covplan.tracking import Tracking, open_tracking
from covplan.training.checkpoints import (
    CHECKPOINT_FORMAT_VERSION,
    restore_rng_state,
    save_checkpoint_atomically,
    seed_everything,
)
from covplan.training.compiled_network import CompiledNetwork, should_compile
from covplan.training.data import (
    build_augmentation,
    build_batch_generators,
    deep_supervision_scales,
    default_num_workers,
    stop_batch_generators,
)
from covplan.training.distributed import join_process_group, main_process_values, resolve_device, sum_over_processes
from covplan.training.inputs import TrainingInputs, check_case_files, fold_case_identifiers, with_plan_overrides
from covplan.training.progress import log_columns, peak_memory_mb, plot_progress, write_training_log
from covplan.training.pseudo_dice import confusion_counts, moving_average, pseudo_dice, pseudo_dice_classes
from covplan.training.run_state import RunState, load_optimisation_state, nnunet_keys, optimisation_state, provenance
from covplan.training.settings import TrainingSettings
from covplan.training.tracked import epoch_metrics
from covplan.work_folder import CHECKPOINT_BEST, CHECKPOINT_LATEST, DATASET_JSON, PROGRESS_PNG, TRAINING_LOG_CSV, Fold

logger = logging.getLogger(__name__)

GRADIENT_CLIP_NORM = 12.0  # nnU-Net's


class Trainer:
    """Trains one fold of one architecture and configuration of a WORK folder and writes
    ``WORK/<arch>__<configuration>/fold_F/``; :func:`covplan.training.fold_runner.run_fold`
    runs it from start (or checkpoint) to evaluation.

    Override points: :meth:`build_loss`, :meth:`train_step`, :meth:`validation_step`,
    :meth:`end_epoch`, :meth:`should_stop`.
    """

    def __init__(self, inputs: TrainingInputs, fold: Fold, settings: TrainingSettings | None = None,
                 tracking: Tracking | None = None):
        self.settings = settings or TrainingSettings()
        self.inputs, self.fold = with_plan_overrides(inputs, self.settings.batch_size,
                                                     self.settings.architecture_params), fold
        inputs = self.inputs
        self.plugin = get_architecture(inputs.architecture)
        self.loss_name = self.settings.loss or self.plugin.default_loss
        self.loss_plugin = get_loss(self.loss_name)
        check_loss_supports_labels(self.loss_plugin, inputs.label_manager, str(inputs.work / DATASET_JSON))
        check_loss_supports_dims(self.loss_plugin, inputs.configuration, len(inputs.plan["patch_size"]))
        self.train_ids, self.val_ids = fold_case_identifiers(inputs, fold)
        check_case_files(inputs, self.train_ids, self.val_ids, references=self.settings.evaluate)
        self.output_folder = inputs.fold_folder(fold)
        self.device = resolve_device(self.settings.device)
        self.group = join_process_group(self.device.type)
        # Only the first process reports, as only it writes the log; tracking: see fold_runner.train_fold.
        self.tracking = Tracking() if not self.group.is_main else tracking or open_tracking(
            self.settings.trackers, self.settings.tracking_uri)
        self.class_names = pseudo_dice_classes(inputs.dataset_json, inputs.label_manager)
        self.columns = log_columns(self.class_names)
        self.state = RunState()  # the fold's time counts from here
        self._build()

    # -- set-up ---------------------------------------------------------------------------

    def _build(self) -> None:
        settings, plan = self.settings, self.inputs.plan
        seed_everything(settings.seed)  # the same initial weights in every process
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        num_classes = self.inputs.label_manager.num_segmentation_heads
        self.network = self.plugin.build_network(plan, self.inputs.num_input_channels, num_classes,
                                                 deep_supervision=True).to(self.device)
        output_shapes = self._output_shapes()
        weights = self.plugin.output_weights(len(output_shapes)) if len(output_shapes) > 1 else None
        self.loss = self.build_loss(weights)
        self._check_loss_fits(output_shapes)
        self.build_optimizer()
        self.grad_scaler = torch.amp.GradScaler("cuda") if self.device.type == "cuda" else None
        patch_size = self.inputs.configuration_manager.patch_size
        self.augmentation = build_augmentation(settings.augmentation, self.inputs,
                                               deep_supervision_scales(patch_size, output_shapes))
        self.model = (CompiledNetwork(self.network, self.inputs.architecture)
                      if should_compile(settings.compile, self.device) else self.network)
        if self.group.is_distributed:
            # Outputs with loss weight 0 (nnU-Net's lowest deep-supervision level) leave
            # parameters without gradients, which DDP must be told about.
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        seed_everything(settings.seed + self.group.rank)  # each process samples its own batches
        num_workers = default_num_workers() if settings.num_workers is None else settings.num_workers
        # nnU-Net splits the plan's batch over the processes; covplan too, at least one each.
        batch_size = max(1, plan["batch_size"] // self.group.world_size)
        self.train_batches, self.val_batches = build_batch_generators(
            self.inputs, self.train_ids, self.val_ids, self.augmentation, batch_size,
            settings.oversample_foreground_percent, num_workers, settings.seed + 1000 * self.group.rank,
            pin_memory=self.device.type == "cuda")

    def build_optimizer(self) -> None:
        """The plugin's optimiser and schedule over ``settings.num_epochs`` epochs."""
        self.optimizer, self.lr_scheduler = self.plugin.configure_optimizers(
            self.network, self.settings.num_epochs, self.settings.initial_lr)

    def _output_shapes(self) -> list[tuple[int, ...]]:
        """Spatial shape of each network output for one patch; the targets are resized to
        these (as nnU-Net's deep-supervision targets are)."""
        patch = (1, self.inputs.num_input_channels, *self.inputs.configuration_manager.patch_size)
        self.network.eval()
        with torch.no_grad():
            outputs = _as_list(self.network(torch.zeros(patch, device=self.device)))
        self.network.train()
        return [tuple(output.shape[2:]) for output in outputs]

    def build_loss(self, output_weights: list[float] | None):
        """The loss plugin's loss for this configuration and the dataset's labels, weighted per output."""
        return build_plugin_loss(self.loss_plugin, self.inputs.plan, self.inputs.label_manager, output_weights)

    def _check_loss_fits(self, output_shapes: list[tuple[int, ...]]) -> None:
        labels = self.inputs.label_manager
        num_classes = labels.num_segmentation_heads
        # The targets nnU-Net's pipeline makes: a label map, or one map per region (and
        # one for the unlabelled voxels).
        target_channels = num_classes + labels.has_ignore_label if labels.has_regions else 1
        outputs = [torch.zeros(1, num_classes, *shape, device=self.device) for shape in output_shapes]
        targets = [torch.zeros(1, target_channels, *shape, device=self.device) for shape in output_shapes]
        try:
            with torch.no_grad():
                self.loss(*((outputs, targets) if len(outputs) > 1 else (outputs[0], targets[0])))
        except Exception as error:
            raise CovplanError(
                f"loss '{self.loss_name}' cannot train architecture '{self.inputs.architecture}' "
                f"({type(error).__name__}: {error}); leave out --loss to use its default "
                f"'{self.plugin.default_loss}'") from error

    # -- one epoch ------------------------------------------------------------------------

    def train_step(self, batch: dict[str, Any]) -> float:
        data, target = _to_device(batch["data"], self.device), _to_device(batch["target"], self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            loss = self.loss(_unwrap_single(self.model(data)), target)
        if self.grad_scaler is not None:
            self.grad_scaler.scale(loss).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), GRADIENT_CLIP_NORM)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), GRADIENT_CLIP_NORM)
            self.optimizer.step()
        return loss.item()

    def validation_step(self, batch: dict[str, Any]) -> torch.Tensor:
        """Loss and hard true/false positives and false negatives per foreground class on
        one batch of validation patches, as one vector ``[loss, tp..., fp..., fn...]``."""
        data, target = _to_device(batch["data"], self.device), _to_device(batch["target"], self.device)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            output = _unwrap_single(self.model(data))
            loss = self.loss(output, target)
        output, target = (output[0], target[0]) if isinstance(output, list) else (output, target)
        counts = confusion_counts(output, target, self.inputs.label_manager)
        return torch.cat([loss.detach().float().reshape(1), counts]).cpu()

    def run_epoch(self, iterations: int | None = None, deadline: float | None = None
                  ) -> tuple[dict[str, Any], float]:
        """Train ``iterations`` (default ``iterations_per_epoch``) batches, or fewer when
        ``time.monotonic()`` passes ``deadline`` (at least one), validate
        ``validation_iterations`` batches, step the schedule; the epoch's row of the
        training log, and the seconds its training steps took."""
        start = time.monotonic()
        iterations = self.settings.iterations_per_epoch if iterations is None else iterations
        lr = self.optimizer.param_groups[0]["lr"]
        self.model.train()
        train_losses = []
        for _ in tqdm(range(iterations), desc=f"epoch {self.state.epoch}", unit="batch", disable=not self.group.is_main,
                      leave=False):
            train_losses.append(self.train_step(next(self.train_batches)))
            if deadline is not None and time.monotonic() > deadline:
                break
        iterations, training_s = len(train_losses), time.monotonic() - start
        train = sum_over_processes(torch.tensor([sum(train_losses), len(train_losses)], dtype=torch.float64),
                                   self.group, self.device)
        self.model.eval()
        validation = torch.zeros(1 + 3 * len(self.class_names), dtype=torch.float64)
        with torch.no_grad():
            for _ in range(self.settings.validation_iterations):
                validation += self.validation_step(next(self.val_batches))
        validation = sum_over_processes(validation, self.group, self.device)
        train_loss = float(train[0] / train[1])
        step_scheduler(self.lr_scheduler, train_loss)
        batches = max(1, self.settings.validation_iterations * self.group.world_size)
        dice = pseudo_dice(*validation[1:].reshape(3, len(self.class_names)))
        previous_ema = self.state.history[-1]["ema_dice"] if self.state.history else None
        return {"epoch": self.state.epoch, "train_loss": train_loss, "val_loss": float(validation[0]) / batches,
                **{f"dice_{name}": value for name, value in zip(self.class_names, dice)},
                "ema_dice": moving_average(dice, previous_ema),
                "lr": lr, "iterations": iterations, "epoch_time_s": round(time.monotonic() - start, 3),
                "memory_mb": peak_memory_mb(self.device)}, training_s

    def end_epoch(self, row: dict[str, Any]) -> None:
        """Record the epoch; write the log, the plot and the checkpoints (latest every
        epoch, so that a killed run loses at most one; best on a new best moving-average
        pseudo Dice). With a time budget the checkpoints and the plot are written at most
        every :data:`CHECKPOINT_INTERVAL_S` and after the last epoch: short epochs then
        cost little more than their steps, and a killed run loses at most that long."""
        state = self.state
        state.history.append(row)
        new_best = state.pseudo_dice.observe(row)
        state.epoch += 1
        row["elapsed_s"] = round(state.elapsed_s, 1)
        if not self.group.is_main:
            return
        logger.info("epoch %d: train loss %.4f, validation loss %.4f, pseudo Dice %s", row["epoch"],
                    row["train_loss"], row["val_loss"], [round(row[f"dice_{n}"], 4) for n in self.class_names])
        write_training_log(state.history, self.columns, self.output_folder / TRAINING_LOG_CSV)
        self.tracking.log_metrics(epoch_metrics(row), step=row["epoch"])  # after the log: a tracker cannot lose it
        if not (state.budget is None or state.epoch == self.settings.num_epochs
                or time.monotonic() - state.last_saved >= CHECKPOINT_INTERVAL_S):
            return
        checkpoint = self.checkpoint()
        save_checkpoint_atomically(checkpoint, self.output_folder / CHECKPOINT_LATEST)
        if new_best:
            save_checkpoint_atomically(checkpoint, self.output_folder / CHECKPOINT_BEST)
        plot_progress(state.history, self.class_names, self.output_folder / PROGRESS_PNG)
        state.last_saved = time.monotonic()

    def should_stop(self) -> bool:
        """Early stopping where the architecture's recipe asks for it (no better
        validation loss for ``early_stopping_patience`` epochs), or the time budget overrun
        (only when even one step per epoch is slower than the time left allows; the
        schedule is then cut short, and the log says so)."""
        state = self.state
        if state.pseudo_dice.patience_spent(self.plugin.early_stopping_patience):
            return True
        if state.budget is None or state.epoch == state.first_epoch or not state.budget.overrun:
            return False
        logger.warning("the time budget is spent at epoch %d of %d; the schedule did not run to its end",
                       state.epoch, self.settings.num_epochs)
        return True

    def run_epochs(self) -> None:
        """Run epochs until the last one, or until :meth:`should_stop`; after each, the
        time budget (if any) learns what it cost and ``settings.on_epoch_end`` sees its row."""
        while self.state.epoch < self.settings.num_epochs and not self.should_stop():
            started = time.monotonic()
            row, training_s = self.run_epoch(*self._next_epoch())
            self.end_epoch(row)
            if self.state.budget is not None:  # what an epoch really costs, its checkpoints included
                self.state.budget.observe_epoch(row["iterations"], training_s, time.monotonic() - started)
            if self.settings.on_epoch_end is not None and self.group.is_main:
                self.settings.on_epoch_end(row["epoch"], row)

    def _next_epoch(self) -> tuple[int, float | None]:
        """Iterations and deadline of the next epoch: the settings' without a budget."""
        budget = self.state.budget
        if budget is None:
            return self.settings.iterations_per_epoch, None
        iterations, deadline = budget.next_epoch(self.settings.num_epochs - self.state.epoch)
        if self.group.is_distributed:  # every process must take the same number of steps
            return main_process_values([iterations], self.group, self.device)[0], None
        return iterations, deadline

    def shutdown_loaders(self) -> None:
        """Stop the background augmentation workers, if any."""
        stop_batch_generators(self.train_batches, self.val_batches)

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """What a resumed run continues from, what the fold was trained with, and what
        nnU-Net's predictor reads."""
        return {"covplan": CHECKPOINT_FORMAT_VERSION,
                **optimisation_state(self.network, self.optimizer, self.lr_scheduler, self.grad_scaler),
                **self.state.record(), **provenance(self.inputs.architecture, self.loss_name),
                "settings": self.settings.record(), "fold": self.fold, "dataset_fingerprint": self.inputs.fingerprint,
                **nnunet_keys(self.inputs, self.fold, self.augmentation.mirror_axes)}

    def load_state(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``: weights, optimiser, schedule, logs and random state."""
        load_optimisation_state(checkpoint, self.network, self.optimizer, self.lr_scheduler, self.grad_scaler)
        self.state.restore(checkpoint)
        if self.group.is_main:
            restore_rng_state(checkpoint["rng_state"])
        else:  # only the first process's state is saved; the others draw anew
            seed_everything(self.settings.seed + self.group.rank + 1000 * self.state.epoch)


def _as_list(output: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return list(output) if isinstance(output, (list, tuple)) else [output]


def _unwrap_single(output: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """A list with one output is that output: the loss then gets a tensor, as its target."""
    return output[0] if isinstance(output, (list, tuple)) and len(output) == 1 else output


def _to_device(value: torch.Tensor | list[torch.Tensor], device: torch.device):
    if isinstance(value, list):
        return [item.to(device, non_blocking=True) for item in value]
    return value.to(device, non_blocking=True)
