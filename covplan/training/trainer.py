"""The one trainer: every architecture plugin with every loss plugin, on nnU-Net's data
pipeline. Epochs, learning rate, augmentation and the rest are values of
:class:`TrainingSettings`, never subclasses."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from covplan.architectures.network_check import check_network
from covplan.architectures.recipes import step_scheduler
from covplan.errors import CovplanError
from covplan.labels.roles import label_roles
from covplan.losses.base import build_plugin_loss, check_loss_supports_labels
from covplan.architectures.base import architectures, get_architecture
from covplan.losses.base import get_loss, losses
from covplan.tracking import Tracking, open_tracking
from covplan.planning.schedule import CHECKPOINT_INTERVAL_S
from covplan.training.budget_clock import BudgetClock, start_clock
from covplan.training.checkpoints import (
    CHECKPOINT_FORMAT_VERSION, capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint_atomically,
    seed_everything,
)
from covplan.training.data import build_augmentation, build_batch_generators, deep_supervision_scales, default_num_workers
from covplan.training.distributed import (
    join_process_group, leave_process_group, main_process_values, resolve_device, sum_over_processes,
)
from covplan.training.evaluation import evaluate_fold, write_fold_time
from covplan.training.fold_lock import fold_lock
from covplan.interruption import interrupted_by_signals
from covplan.training.progress import log_columns, peak_memory_mb, plot_progress, write_training_log
from covplan.training.tracked import budget_params, epoch_metrics, fold_run, report_fold_end
from covplan.work_folder import Fold
from covplan.training.inputs import (TrainingInputs, check_case_files, fold_case_identifiers, load_training_inputs, with_plan_overrides, write_model_description)

logger = logging.getLogger(__name__)

GRADIENT_CLIP_NORM = 12.0  # nnU-Net's
EMA_WEIGHT = 0.9  # nnU-Net's moving average of the pseudo Dice, which picks checkpoint_best


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
    compile: bool = False
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


class Trainer:
    """Trains one fold of one architecture and configuration of a WORK folder and writes
    ``WORK/<arch>__<configuration>/fold_F/``.

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
        check_loss_supports_labels(self.loss_plugin, inputs.label_manager, str(inputs.work / "dataset.json"))
        self.train_ids, self.val_ids = fold_case_identifiers(inputs, fold)
        check_case_files(inputs, self.train_ids, self.val_ids, references=self.settings.evaluate)
        self.output_folder = inputs.fold_folder(fold)
        self.device = resolve_device(self.settings.device)
        self.group = join_process_group(self.device.type)
        # Only the first process reports, as only it writes the log; tracking: see train_fold.
        self.tracking = Tracking() if not self.group.is_main else tracking or open_tracking(
            self.settings.trackers, self.settings.tracking_uri)
        self.class_names = _class_names(inputs)
        self.columns = log_columns(self.class_names)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best_ema_dice = -math.inf
        self.best_val_loss = math.inf
        self.epochs_without_improvement = 0
        self.budget: BudgetClock | None = None
        # The fold's time counts from here: building the network and loaders is part of it.
        self._run_started, self._run_first_epoch, self._elapsed_before_s = time.monotonic(), 0, 0.0
        self._last_saved = self._run_started
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
        self._build_optimizer()
        self.grad_scaler = torch.amp.GradScaler("cuda") if self.device.type == "cuda" else None
        patch_size = self.inputs.configuration_manager.patch_size
        self.augmentation = build_augmentation(settings.augmentation, self.inputs,
                                               deep_supervision_scales(patch_size, output_shapes))
        self.model = torch.compile(self.network) if settings.compile else self.network
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

    def _build_optimizer(self) -> None:
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
        from nnunetv2.training.loss.dice import get_tp_fp_fn_tn

        data, target = _to_device(batch["data"], self.device), _to_device(batch["target"], self.device)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            output = _unwrap_single(self.model(data))
            loss = self.loss(output, target)
        output, target = (output[0], target[0]) if isinstance(output, list) else (output, target)
        labels = self.inputs.label_manager
        if labels.has_regions:
            predicted = (torch.sigmoid(output) > 0.5).long()
        else:
            predicted = torch.zeros_like(output).scatter_(1, output.argmax(1, keepdim=True), 1)
        mask = None
        if labels.has_ignore_label and labels.has_regions:  # the last target map marks unlabelled voxels
            mask, target = (target[:, -1:] == 0).float(), target[:, :-1]
        elif labels.has_ignore_label:
            mask = (target != labels.ignore_label).float()
            target = torch.where(target == labels.ignore_label, 0, target)
        tp, fp, fn, _ = get_tp_fp_fn_tn(predicted, target, axes=[0, *range(2, output.ndim)], mask=mask)
        first = 0 if labels.has_regions else 1  # no Dice for the background
        return torch.cat([loss.detach().float().reshape(1), tp[first:], fp[first:], fn[first:]]).cpu()

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
        for _ in tqdm(range(iterations), desc=f"epoch {self.epoch}", unit="batch", disable=not self.group.is_main,
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
        tp, fp, fn = validation[1:].reshape(3, len(self.class_names))
        dice = [float(2 * t / (2 * t + p + n)) if 2 * t + p + n > 0 else math.nan for t, p, n in zip(tp, fp, fn)]
        defined = [value for value in dice if not math.isnan(value)]
        mean_dice = sum(defined) / len(defined) if defined else 0.0
        previous_ema = self.history[-1]["ema_dice"] if self.history else mean_dice
        return {"epoch": self.epoch, "train_loss": train_loss, "val_loss": float(validation[0]) / batches,
                **{f"dice_{name}": value for name, value in zip(self.class_names, dice)},
                "ema_dice": EMA_WEIGHT * previous_ema + (1 - EMA_WEIGHT) * mean_dice,
                "lr": lr, "iterations": iterations, "epoch_time_s": round(time.monotonic() - start, 3),
                "memory_mb": peak_memory_mb(self.device)}, training_s

    def end_epoch(self, row: dict[str, Any]) -> None:
        """Record the epoch; write the log, the plot and the checkpoints (latest every
        epoch, so that a killed run loses at most one; best on a new best moving-average
        pseudo Dice). With a time budget the checkpoints and the plot are written at most
        every :data:`CHECKPOINT_INTERVAL_S` and after the last epoch: short epochs then
        cost little more than their steps, and a killed run loses at most that long."""
        self.history.append(row)
        if row["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.epochs_without_improvement = row["val_loss"], 0
        else:
            self.epochs_without_improvement += 1
        self.epoch += 1
        row["elapsed_s"] = round(self.elapsed_s, 1)
        if not self.group.is_main:
            return
        logger.info("epoch %d: train loss %.4f, validation loss %.4f, pseudo Dice %s", row["epoch"],
                    row["train_loss"], row["val_loss"], [round(row[f"dice_{n}"], 4) for n in self.class_names])
        new_best = row["ema_dice"] > self.best_ema_dice
        if new_best:
            self.best_ema_dice = row["ema_dice"]
        write_training_log(self.history, self.columns, self.output_folder / "training_log.csv")
        self.tracking.log_metrics(epoch_metrics(row), step=row["epoch"])  # after the log: a tracker cannot lose it
        if not (self.budget is None or self.epoch == self.settings.num_epochs
                or time.monotonic() - self._last_saved >= CHECKPOINT_INTERVAL_S):
            return
        checkpoint = self.checkpoint()
        save_checkpoint_atomically(checkpoint, self.output_folder / "checkpoint_latest.pth")
        if new_best:
            save_checkpoint_atomically(checkpoint, self.output_folder / "checkpoint_best.pth")
        plot_progress(self.history, self.class_names, self.output_folder / "progress.png")
        self._last_saved = time.monotonic()

    def should_stop(self) -> bool:
        """Early stopping where the architecture's recipe asks for it (no better
        validation loss for ``early_stopping_patience`` epochs), or the time budget overrun
        (only when even one step per epoch is slower than the time left allows; the
        schedule is then cut short, and the log says so)."""
        patience = self.plugin.early_stopping_patience
        if patience is not None and self.epochs_without_improvement >= patience:
            return True
        if self.budget is None or self.epoch == self._run_first_epoch or not self.budget.overrun:
            return False
        logger.warning("the time budget is spent at epoch %d of %d; the schedule did not run to its end",
                       self.epoch, self.settings.num_epochs)
        return True

    @property
    def elapsed_s(self) -> float:
        """Seconds the fold has trained so far, over this run and the runs it resumed."""
        return self._elapsed_before_s + time.monotonic() - self._run_started

    # -- the time budget ------------------------------------------------------------------

    def fit_to_budget(self, budget_state: dict[str, Any] | None = None) -> None:
        """Choose epochs, iterations and validation iterations for ``time_budget_s``
        from a throughput measurement, and rebuild the schedule over those epochs; a
        resumed fold keeps its checkpoint's schedule (``budget_state``) and continues on
        the time left."""
        from covplan.training.probe import measure_throughput

        self.budget = start_clock(self.settings.time_budget_s, budget_state, lambda: self.elapsed_s,
                                  lambda: measure_throughput(self))
        schedule = self.budget.schedule
        epochs, iterations, validation_iterations = main_process_values(
            [schedule.epochs, schedule.iterations_per_epoch, schedule.validation_iterations], self.group,
            self.device)
        self.budget.schedule = replace(schedule, epochs=epochs, iterations_per_epoch=iterations,
                                       validation_iterations=validation_iterations)
        self.settings = replace(self.settings, num_epochs=epochs, iterations_per_epoch=iterations,
                                validation_iterations=validation_iterations, time_budget_s=self.budget.budget_s)
        if budget_state is None:  # a resumed fold's optimiser and schedule come from its checkpoint
            self._build_optimizer()
            if self.group.is_main:
                logger.info(self.budget.describe())
        self.tracking.log_params(budget_params(self.budget.state()))

    def _next_epoch(self) -> tuple[int, float | None]:
        """Iterations and deadline of the next epoch: the settings' without a budget."""
        if self.budget is None:
            return self.settings.iterations_per_epoch, None
        iterations, deadline = self.budget.next_epoch(self.settings.num_epochs - self.epoch)
        if self.group.is_distributed:  # every process must take the same number of steps
            return main_process_values([iterations], self.group, self.device)[0], None
        return iterations, deadline

    # -- checkpoints ----------------------------------------------------------------------

    def provenance(self) -> dict[str, dict[str, str]]:
        """Name, distribution and version of the architecture and of the loss plugin."""
        sources = {"architecture": (self.inputs.architecture, architectures()[self.inputs.architecture].source),
                   "loss": (self.loss_name, losses()[self.loss_name].source)}
        return {kind: {"name": name, "distribution": source.distribution, "version": source.version}
                for kind, (name, source) in sources.items()}

    def checkpoint(self) -> dict[str, Any]:
        return {
            "covplan": CHECKPOINT_FORMAT_VERSION,
            "network_weights": self.network.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "lr_scheduler_state": self.lr_scheduler.state_dict(),
            "grad_scaler_state": self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
            "rng_state": capture_rng_state(),
            "epoch": self.epoch,
            "history": self.history,
            "best_ema_dice": self.best_ema_dice,
            "best_val_loss": self.best_val_loss,
            "epochs_without_improvement": self.epochs_without_improvement,
            "budget": self.budget.state() if self.budget is not None else None,
            **self.provenance(),
            "settings": self.settings.record(),
            "fold": self.fold,
            "dataset_fingerprint": self.inputs.fingerprint,
            # The keys nnU-Net's predictor reads, so that nnunetv2 can load these checkpoints.
            "init_args": {"plans": self.inputs.plans, "configuration": self.inputs.configuration,
                          "fold": self.fold, "dataset_json": self.inputs.dataset_json},
            "trainer_name": "nnUNetTrainer",
            "inference_allowed_mirroring_axes": self.augmentation.mirror_axes,
        }

    def load_state(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``: weights, optimiser, schedule, logs and random state."""
        if checkpoint["init_args"]["plans"] != self.inputs.plans:
            raise CovplanError(f"the checkpoint in {self.output_folder} was trained with other plans than "
                               f"{self.inputs.work}; train again without --resume")
        self.network.load_state_dict(checkpoint["network_weights"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.lr_scheduler.load_state_dict(checkpoint["lr_scheduler_state"])
        if self.grad_scaler is not None and checkpoint["grad_scaler_state"] is not None:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])
        self.epoch, self.history = checkpoint["epoch"], list(checkpoint["history"])
        self.best_ema_dice, self.best_val_loss = checkpoint["best_ema_dice"], checkpoint["best_val_loss"]
        self.epochs_without_improvement = checkpoint["epochs_without_improvement"]
        self._elapsed_before_s = float(self.history[-1].get("elapsed_s") or 0.0) if self.history else 0.0
        if self.group.is_main:
            restore_rng_state(checkpoint["rng_state"])
        else:  # only the first process's state is saved; the others draw anew
            seed_everything(self.settings.seed + self.group.rank + 1000 * self.epoch)

    # -- the whole run --------------------------------------------------------------------

    def run(self, resume: bool = False) -> dict[str, Any] | None:
        """Train until the last epoch (or early stop), write ``checkpoint_final.pth`` and,
        unless settings say otherwise, evaluate the fold. Returns the evaluation summary
        (None in processes other than the first, or without evaluation)."""
        with self.tracking.run(fold_run(self)):
            return self._train_and_evaluate(resume)

    def _train_and_evaluate(self, resume: bool) -> dict[str, Any] | None:
        try:
            budget_state = self._start(resume)
            self._run_first_epoch = self.epoch
            if budget_state is not None or self.settings.time_budget_s is not None:
                self.fit_to_budget(budget_state)
            while self.epoch < self.settings.num_epochs and not self.should_stop():
                started = time.monotonic()
                row, training_s = self.run_epoch(*self._next_epoch())
                self.end_epoch(row)
                if self.budget is not None:  # what an epoch really costs, its checkpoints included
                    self.budget.observe_epoch(row["iterations"], training_s, time.monotonic() - started)
                if self.settings.on_epoch_end is not None and self.group.is_main:
                    self.settings.on_epoch_end(row["epoch"], row)
        finally:
            self.shutdown_loaders()
        if self.group.is_distributed:
            torch.distributed.barrier()
        if not self.group.is_main:
            return None
        save_checkpoint_atomically(self.checkpoint(), self.output_folder / "checkpoint_final.pth")
        training_s = self.elapsed_s
        summary = None
        if self.settings.evaluate:
            summary = evaluate_fold(self.network, self.inputs, self.val_ids, self.output_folder, self.device,
                                    self.augmentation.mirror_axes, self.settings.test_time_mirroring)
        write_fold_time(self.output_folder, training_s, self.elapsed_s, self.history,
                        self.budget.state() if self.budget is not None else None)
        report_fold_end(self.tracking, self.output_folder, summary)
        return summary

    def shutdown_loaders(self) -> None:
        """Stop the background augmentation workers, if any."""
        for batches in (self.train_batches, self.val_batches):
            # batchgenerators' augmenters have no public way to stop their workers other than
            # being garbage-collected (__del__ calls _finish); nnU-Net's trainer calls
            # _finish() for the same reason, so that a run ends with its workers gone.
            if hasattr(batches, "_finish"):
                batches._finish()

    def _start(self, resume: bool) -> dict[str, Any] | None:
        """Load the checkpoint to resume, if asked; its time-budget state, if it has one."""
        latest = self.output_folder / "checkpoint_latest.pth"
        budget_state = None
        if resume and latest.is_file():
            checkpoint = load_checkpoint(latest, self.device)
            budget_state = checkpoint.get("budget")
            if budget_state is None and self.settings.time_budget_s is not None:
                raise CovplanError(f"{self.output_folder} was trained without --time-budget; resume it without "
                                   f"--time-budget, or train it again without --resume")
            if budget_state is not None:  # the schedule's epochs before its state is loaded into it
                self.settings = replace(self.settings, num_epochs=budget_state["schedule"]["epochs"])
                self._build_optimizer()
            self.load_state(checkpoint)
            logger.info("resuming %s at epoch %d", self.output_folder, self.epoch)
        elif resume:
            logger.warning("nothing to resume in %s (no checkpoint_latest.pth); training from the start",
                           self.output_folder)
        elif latest.is_file():
            logger.warning("%s holds a trained run; training from the start replaces it (--resume continues it)",
                           self.output_folder)
        if self.group.is_main:
            self.output_folder.mkdir(parents=True, exist_ok=True)
            write_model_description(self.inputs)
        return budget_state


def _class_names(inputs: TrainingInputs) -> list[str]:
    """Names of the pseudo-Dice columns, in the order of nnU-Net's foreground labels (or
    regions, which keep dataset.json's order)."""
    labels = inputs.dataset_json["labels"]
    if inputs.label_manager.has_regions:
        return [name for name, value in labels.items() if name != "ignore" and value != 0]
    names = label_roles(inputs.dataset_json).names
    return [names[label] for label in inputs.label_manager.foreground_labels]


def _as_list(output: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return list(output) if isinstance(output, (list, tuple)) else [output]


def _unwrap_single(output: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """A list with one output is that output: the loss then gets a tensor, as its target."""
    return output[0] if isinstance(output, (list, tuple)) and len(output) == 1 else output


def _to_device(value: torch.Tensor | list[torch.Tensor], device: torch.device):
    if isinstance(value, list):
        return [item.to(device, non_blocking=True) for item in value]
    return value.to(device, non_blocking=True)


def train_fold(work: Path, architecture: str, fold: Fold, configuration: str | None = None,
               settings: TrainingSettings | None = None, resume: bool = False,
               tracking: Tracking | None = None) -> dict[str, Any] | None:
    """Train (or with ``resume``, continue) one fold of ``architecture`` on a planned and
    preprocessed WORK folder; returns the fold's evaluation summary. SIGTERM or SIGINT
    stops it with :class:`covplan.interruption.Interrupted`; ``resume`` continues it.
    ``tracking``: the trackers to report to, with the runs the fold's run belongs to (a
    plan-and-train's) open; default those of ``settings.trackers``."""
    get_architecture(architecture)  # an unknown name fails here, listing the known ones
    settings = settings or TrainingSettings()
    inputs = with_plan_overrides(load_training_inputs(Path(work), architecture, configuration), settings.batch_size,
                                 settings.architecture_params)
    check_network(architecture, inputs.plan, inputs.num_input_channels, inputs.label_manager.num_segmentation_heads)
    fold_folder = inputs.fold_folder(fold)
    if resume and fold_finished(fold_folder):
        logger.warning("%s is finished (checkpoint_final.pth is its last checkpoint): nothing to resume; train it "
                       "without --resume to train it again", fold_folder)
        return _validation_summary(fold_folder)
    # Under torchrun the processes of one run share the fold: the first one holds the lock.
    lock = fold_lock(fold_folder) if os.environ.get("RANK", "0") == "0" else nullcontext()
    try:
        with lock, interrupted_by_signals():
            return Trainer(inputs, fold, settings, tracking).run(resume=resume)
    finally:
        leave_process_group()


def fold_finished(fold_folder: Path) -> bool:
    """The run ended: its final checkpoint is the last one written (a later run that was
    interrupted leaves a newer checkpoint_latest.pth, which --resume continues)."""
    final, latest = fold_folder / "checkpoint_final.pth", fold_folder / "checkpoint_latest.pth"
    return final.is_file() and (not latest.is_file() or final.stat().st_mtime_ns >= latest.stat().st_mtime_ns)


def _validation_summary(fold_folder: Path) -> dict[str, Any] | None:
    """The evaluation summary a finished fold wrote (None when it was trained without)."""
    from nnunetv2.evaluation.evaluate_predictions import load_summary_json

    path = fold_folder / "validation" / "summary.json"
    return load_summary_json(str(path)) if path.is_file() else None
