"""Training with distributed data parallel: two CPU processes on gloo, through torchrun."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from covplan.training.checkpoints import load_checkpoint

pytestmark = pytest.mark.slow


def test_two_processes_train_one_fold(sphere_work):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "covplan", "train",
               str(sphere_work), "--arch", "plain_unet", "--folds", "0", "--epochs", "2", "--iters-per-epoch", "2",
               "--val-iters", "1", "--num-workers", "0", "--device", "cpu", "--no-evaluate"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    checkpoint = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert checkpoint["epoch"] == 2
    assert all(not name.startswith("module.") for name in checkpoint["network_weights"])  # unwrapped weights
    with open(fold_folder / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"]  # written once, by the first process
    assert not (fold_folder / "validation").exists()


def test_two_processes_train_to_one_time_budget(sphere_work):
    """Each process measures its own steps; the first process's schedule and step counts
    apply to both, or they would wait on each other forever."""
    import json

    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "covplan", "train",
               str(sphere_work), "--arch", "plain_unet", "--folds", "0", "--time-budget", "0.5", "--num-workers", "0",
               "--device", "cpu", "--no-evaluate"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    checkpoint = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert checkpoint["epoch"] == checkpoint["budget"]["schedule"]["epochs"] >= 2
    fold_time = json.loads((fold_folder / "fold_time.json").read_text())
    assert fold_time["total_s"] <= 1.1 * 30
