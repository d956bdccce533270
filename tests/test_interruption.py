"""SIGTERM and SIGINT stop training cleanly: the checkpoint stays whole, the workers stop,
the exit status names the signal and --resume continues the run."""

from __future__ import annotations

import os
import shlex
import signal
import threading

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.training.checkpoints import load_checkpoint
from covplan.interruption import HANDLED_SIGNALS, Interrupted, interrupted_by_signals
from tests.processes import TINY_EPOCHS_ON_WORKERS, children_of, needs_proc, start_training


def handlers() -> dict[int, object]:
    return {number: signal.getsignal(number) for number in HANDLED_SIGNALS}


@pytest.mark.parametrize("signal_number, name, status", [(signal.SIGINT, "SIGINT", 130),
                                                         (signal.SIGTERM, "SIGTERM", 143)])
def test_the_first_signal_raises_interrupted_and_puts_the_handlers_back(signal_number, name, status):
    before = handlers()
    with interrupted_by_signals():
        assert handlers() != before
        with pytest.raises(Interrupted) as raised:
            signal.raise_signal(signal_number)
        assert handlers() == before  # a second signal acts as it would have
    assert (raised.value.signal_name, raised.value.exit_status) == (name, status)
    assert handlers() == before


def test_other_threads_keep_the_handlers():
    before, seen = handlers(), []

    def look() -> None:
        with interrupted_by_signals():
            seen.append(handlers())

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    assert seen == [before]


@pytest.mark.slow
@needs_proc
def test_sigterm_stops_the_run_and_resume_finishes_it(sphere_work):
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    arguments = ["train", str(sphere_work), "--arch", "plain_unet", "--folds", "0"]
    run = start_training(sphere_work, "--epochs", "1000", *TINY_EPOCHS_ON_WORKERS)
    run.wait_for(fold_folder / "checkpoint_latest.pth")
    workers = children_of(run.process.pid)
    assert len(workers) >= 2

    run.process.terminate()
    assert run.process.wait(timeout=60) == 143, run.output
    assert not any(worker.is_alive for worker in workers)  # stopped before the trainer exited
    resume = shlex.join(["covplan", *arguments, "--epochs", "1000", *TINY_EPOCHS_ON_WORKERS, "--resume"])
    assert [line for line in run.output.splitlines() if "interrupted" in line] == \
        [f"covplan: WARNING: interrupted by SIGTERM; `{resume}` continues it"]
    assert "Traceback" not in run.output
    assert not (fold_folder / "checkpoint_final.pth").exists()
    assert not [path.name for path in fold_folder.iterdir() if path.name.startswith(".")]  # no temporary files
    finished = load_checkpoint(fold_folder / "checkpoint_latest.pth")["epoch"]
    assert finished >= 1

    our_children = children_of(os.getpid())
    result = CliRunner().invoke(cli, [*arguments, "--epochs", str(finished + 1), *TINY_EPOCHS_ON_WORKERS, "--resume"])
    assert result.exit_code == 0, result.output
    final = load_checkpoint(fold_folder / "checkpoint_final.pth")
    assert final["epoch"] == finished + 1
    assert [row["epoch"] for row in final["history"]] == list(range(finished + 1))
    assert children_of(os.getpid()) == our_children  # the resumed run's workers are gone too
