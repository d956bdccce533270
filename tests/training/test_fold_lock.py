"""One training run per fold: a second run is refused while the first lives (a killed
run's lock: test_fold_lock_takeover.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from covplan.training.trainer import Trainer
from tests.work_folders import TINY_TRAINING

SETTINGS = TrainingSettings(num_epochs=1, **{**TINY_TRAINING, "evaluate": False})


def write_lock(fold_folder, pid):
    fold_folder.mkdir(parents=True)
    (fold_folder / "training.lock").write_text(f"{pid}@{socket.gethostname()}\n")


def test_a_fold_another_live_process_trains_is_refused_and_left_alone(sphere_work):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
        write_lock(fold_folder, other.pid)
        with pytest.raises(CovplanError, match=rf"training.lock: fold fold_0 is being trained by process {other.pid} "
                                               rf"on {socket.gethostname()}; wait for it to finish or stop it"):
            train_fold(sphere_work, "plain_unet", 0, settings=SETTINGS)
        assert sorted(path.name for path in fold_folder.iterdir()) == ["training.lock"]
    finally:
        other.kill()
        other.wait()


def test_the_lock_holds_this_process_id_while_training_and_is_gone_after(sphere_work, monkeypatch):
    seen = []
    end_epoch = Trainer.end_epoch

    def end_epoch_reading_the_lock(trainer, row):
        seen.append((trainer.output_folder / "training.lock").read_text())
        end_epoch(trainer, row)

    monkeypatch.setattr(Trainer, "end_epoch", end_epoch_reading_the_lock)
    train_fold(sphere_work, "plain_unet", 0, settings=SETTINGS)
    assert seen == [f"{os.getpid()}@{socket.gethostname()}\n"]
    assert not (sphere_work / "plain_unet__3d_fullres" / "fold_0" / "training.lock").exists()
    assert (sphere_work / "plain_unet__3d_fullres" / "fold_0" / "checkpoint_final.pth").is_file()
