"""``training_log.csv`` and ``progress.png``: one row and one point per epoch."""

from __future__ import annotations

import csv
import io
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from covplan.atomic import atomic_file, save_figure_atomic

LOG_COLUMNS = ("epoch", "train_loss", "val_loss")  # then dice_<class>..., ema_dice, lr, iterations, times


def log_columns(class_names: list[str]) -> list[str]:
    """``iterations``: training steps of the epoch (a time budget varies them);
    ``memory_mb``: see :func:`peak_memory_mb`; ``elapsed_s``: seconds of the fold's
    training so far, over every resumed run."""
    return [*LOG_COLUMNS, *(f"dice_{name}" for name in class_names), "ema_dice", "lr", "iterations", "epoch_time_s",
            "memory_mb", "elapsed_s"]


def peak_memory_mb(device: torch.device) -> float:
    """On a GPU the most memory tensors took on it during the epoch (the peak is reset
    for the next); on a CPU the process's peak resident memory so far (the OS keeps no
    per-epoch peak)."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        return round(peak / 2**20, 1)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return round(peak_kb / 1024, 1)


def write_training_log(history: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    """The whole history, rewritten atomically each epoch (a resumed run's log is the
    checkpoint's, never a duplicate of lines)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_file(path) as temporary:
        temporary.write_text(buffer.getvalue())


def plot_progress(history: list[dict[str, Any]], class_names: list[str], path: Path) -> None:
    """Losses and pseudo Dice (as nnU-Net's progress.png), epoch time and learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (curves, times, rates) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    curves.plot(epochs, [row["train_loss"] for row in history], "b-", label="train loss")
    curves.plot(epochs, [row["val_loss"] for row in history], "r-", label="validation loss")
    curves.set_ylabel("loss")
    dice_axis = curves.twinx()
    for name in class_names:
        dice_axis.plot(epochs, [row[f"dice_{name}"] for row in history], ":", label=f"pseudo Dice {name}")
    dice_axis.plot(epochs, [row["ema_dice"] for row in history], "g-", label="pseudo Dice (moving average)")
    dice_axis.set_ylabel("pseudo Dice")
    curves.legend(loc="upper left")
    dice_axis.legend(loc="upper right")
    times.plot(epochs, [row["epoch_time_s"] for row in history], "b-")
    times.set_ylabel("epoch time [s]")
    rates.plot(epochs, [row["lr"] for row in history], "b-")
    rates.set_ylabel("learning rate")
    rates.set_xlabel("epoch")
    figure.tight_layout()
    save_figure_atomic(figure, path)
