"""Atomic checkpoint writes and the random state a resumed run restores."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from covplan.errors import CovplanError
from covplan.training.checkpoints import (
    capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint_atomically,
)


def test_a_kill_while_saving_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint_latest.pth"
    save_checkpoint_atomically({"covplan": 1, "epoch": 1, "weights": torch.ones(3)}, path)

    def killed_midway(checkpoint, file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint_atomically({"covplan": 1, "epoch": 2, "weights": torch.zeros(3)}, path)
    monkeypatch.undo()
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 1 and torch.equal(checkpoint["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_latest.pth"]


def test_unreadable_or_missing_checkpoints_are_named(tmp_path):
    with pytest.raises(CovplanError, match="checkpoint_latest.pth not found"):
        load_checkpoint(tmp_path / "checkpoint_latest.pth")
    broken = tmp_path / "checkpoint_best.pth"
    broken.write_bytes(b"half a checkpoint")
    with pytest.raises(CovplanError, match="checkpoint_best.pth cannot be read"):
        load_checkpoint(broken)
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(CovplanError, match="not a covplan checkpoint"):
        load_checkpoint(tmp_path / "other.pth")


def test_restored_random_state_repeats_every_draw():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
