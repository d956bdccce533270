"""A training run killed with SIGKILL leaves none of its augmentation workers behind."""

from __future__ import annotations

import signal

import pytest

from tests.processes import TINY_EPOCHS_ON_WORKERS, children_of, needs_proc, seconds_until_gone, start_training

pytestmark = pytest.mark.slow


@needs_proc
def test_the_workers_end_with_a_killed_trainer(sphere_work):
    run = start_training(sphere_work, "--epochs", "1000", *TINY_EPOCHS_ON_WORKERS)
    run.wait_for(sphere_work / "plain_unet__3d_fullres" / "fold_0" / "checkpoint_latest.pth")
    workers = children_of(run.process.pid)
    assert len(workers) >= 2 and all(worker.is_alive for worker in workers)  # a training and a validation worker

    run.process.kill()
    assert run.process.wait() == -signal.SIGKILL
    assert seconds_until_gone(workers) < 3
