"""``covplan train``: trains a fold, prints the cross-validation table, refuses bad input
in one line, says how to continue an interrupted run."""

from __future__ import annotations

import json
import shlex
import signal

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from tests.fake_plugins import ExtraChannelsNet, Registers
from tests.paths import REPO_ROOT

TINY = ["--iters-per-epoch", "2", "--val-iters", "1", "--num-workers", "0", "--no-tta"]


@pytest.mark.slow
def test_trains_a_fold_and_prints_the_table(sphere_work):
    result = CliRunner().invoke(cli, ["train", str(sphere_work), "--arch", "plain_unet", "--folds", "1", "--epochs", "1",
                                      "--seed", "3", *TINY])
    assert result.exit_code == 0, result.output
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_1"
    dice = json.loads((fold_folder / "validation" / "summary.json").read_text())["mean"]["1"]["Dice"]
    lines = result.stdout.splitlines()
    assert lines[-4] == "plain_unet__3d_fullres:"
    assert lines[-3].split() == ["fold", "Dice", "ball", "minutes", "used", "/", "budget"]
    fold_row = lines[-2].split()
    assert fold_row[:2] == ["1", f"{dice:.4f}"] and fold_row[3:] == ["/", "-"]  # no time budget
    assert lines[-1].split() == ["mean", f"{dice:.4f}"]
    cv_summary = json.loads((sphere_work / "plain_unet__3d_fullres" / "cv_summary.json").read_text())
    assert cv_summary["folds"] == {"1": {"ball": pytest.approx(dice)}}
    fold_time = json.loads((fold_folder / "fold_time.json").read_text())
    assert cv_summary["minutes"] == {"1": {"used": round(fold_time["total_s"] / 60, 2), "budget": None}}
    assert float(fold_row[2]) == pytest.approx(fold_time["total_s"] / 60, abs=0.051)


@pytest.mark.parametrize("arguments, message", [
    (["--arch", "no_such_net", "--folds", "0"], "Error: unknown architecture 'no_such_net'; known: "),
    (["--arch", "plain_unet", "--folds", "9"], "Error: fold 9 is out of range: "),
    (["--arch", "plain_unet", "--folds", "0", "--loss", "no_such_loss"], "Error: unknown loss 'no_such_loss'; known: "),
    (["--arch", "plain_unet", "--folds", "0", "--configuration", "3d_lowres"],
     "Error: configuration '3d_lowres' is not in "),
])
def test_bad_input_is_one_line(sphere_work, arguments, message):
    result = CliRunner().invoke(cli, ["train", str(sphere_work), *arguments, "--epochs", "1", *TINY])
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert not (sphere_work / "plain_unet__3d_fullres").exists()


def test_a_fold_that_is_no_number_is_refused_by_click_before_any_work(sphere_work):
    result = CliRunner().invoke(cli, ["train", str(sphere_work), "-a", "plain_unet", "-f", "last"])
    assert result.exit_code == 2
    assert "Error: Invalid value for '-f' / '--folds': fold must be a number or 'all', not 'last'" in result.output
    assert not (sphere_work / "plain_unet__3d_fullres").exists()


def test_unplanned_work_folder_says_to_plan(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(tmp_path), "--arch", "plain_unet", "--folds", "0"])
    assert result.exit_code == 1
    assert "plans_plain_unet.json not found; run `covplan plan DATASET_DIR -o" in result.output
    assert "--arch plain_unet --preprocess` first" in result.output


def test_the_documented_fold_error_prints_what_the_docs_show(sphere_work, monkeypatch):
    command = "covplan train work --arch plain_unet --folds 7"
    documented = (REPO_ROOT / "docs" / "cli.md").read_text().split(f"$ {command}\n")[1].splitlines()[0]
    monkeypatch.chdir(sphere_work.parent)
    sphere_work.rename(sphere_work.parent / "work")
    result = CliRunner().invoke(cli, command.split()[1:])
    assert result.exit_code == 1
    assert result.output.strip() == documented


@pytest.mark.slow
def test_fold_all_prints_its_own_row(disc_work):
    result = CliRunner().invoke(cli, ["train", str(disc_work), "--arch", "plain_unet", "--folds", "all", "--epochs", "1",
                                      *TINY])
    assert result.exit_code == 0, result.output
    summary = json.loads((disc_work / "plain_unet__2d" / "fold_all" / "validation" / "summary.json").read_text())
    lines = result.stdout.splitlines()
    assert lines[-3] == "plain_unet__2d:" and lines[-2].split() == ["fold", "Dice", "ball"]
    assert lines[-1].split() == ["all", f"{summary['mean']['1']['Dice']:.4f}"]
    assert not (disc_work / "plain_unet__2d" / "cv_summary.json").exists()


@pytest.mark.slow
def test_an_interrupted_run_says_how_to_continue_it_and_exits_with_the_signals_status(sphere_work, monkeypatch, caplog):
    from covplan.training.trainer import Trainer

    end_epoch = Trainer.end_epoch

    def end_epoch_then_ctrl_c(trainer, row):
        end_epoch(trainer, row)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Trainer, "end_epoch", end_epoch_then_ctrl_c)
    arguments = ["train", str(sphere_work), "--arch", "plain_unet", "--folds", "0", "--epochs", "3", *TINY]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 130, result.output
    assert caplog.messages == [f"interrupted by SIGINT; `covplan {shlex.join(arguments)} --resume` continues it"]
    fold_folder = sphere_work / "plain_unet__3d_fullres" / "fold_0"
    assert (fold_folder / "checkpoint_latest.pth").is_file() and not (fold_folder / "checkpoint_final.pth").exists()


def test_train_refuses_a_network_with_the_wrong_number_of_outputs_before_training(sphere_work, register_plugin):
    register_plugin(Registers(ExtraChannelsNet()), "undo-extra")
    (sphere_work / "plans_extra_channels_net.json").write_text((sphere_work / "plans_plain_unet.json").read_text())
    result = CliRunner().invoke(cli, ["train", str(sphere_work), "--arch", "extra_channels_net", "--folds", "0",
                                      "--epochs", "1", *TINY])
    assert result.exit_code == 1
    assert result.output == ("Error: architecture 'extra_channels_net' (<in-process undo-extra>): its network "
                             "(deep_supervision=False) returned an output of shape (1, 6, 16, 16, 16) for an input "
                             "of (1, 1, 16, 16, 16); expected (1, 2, 16, 16, 16) (2 classes); fix or update the "
                             "plugin, or choose another architecture\n")
    assert not (sphere_work / "extra_channels_net__3d_fullres").exists()
def test_an_unknown_tracker_is_refused_before_training(disc_work):
    result = CliRunner().invoke(cli, ["train", str(disc_work), "--arch", "plain_unet", "--folds", "0", "--tracker",
                                      "tensorboard", "--tracker", "wandb", *TINY])
    assert result.exit_code == 1
    assert result.output == "Error: unknown tracker 'wandb'; known: mlflow, tensorboard (see `covplan plugins`)\n"
    assert not (disc_work / "plain_unet__2d").exists()


def test_the_same_seed_trains_the_same_weights_on_a_cpu_and_the_fold_records_it(disc_work, tmp_path):
    import shutil

    import torch

    from covplan.training.checkpoints import load_checkpoint

    works = {name: shutil.copytree(disc_work, tmp_path / name) for name in ("first", "again", "other_seed")}
    for name, seed in (("first", "7"), ("again", "7"), ("other_seed", "8")):
        result = CliRunner().invoke(cli, ["train", str(works[name]), "-a", "plain_unet", "-f", "0", "--epochs", "1",
                                          "--seed", seed, "--no-evaluate", *TINY])
        assert result.exit_code == 0, result.output
    fold = "plain_unet__2d/fold_0/checkpoint_final.pth"
    first, again, other = (load_checkpoint(works[name] / fold) for name in ("first", "again", "other_seed"))
    assert (first["settings"]["seed"], other["settings"]["seed"]) == (7, 8)
    # On a CPU, with the batches loaded in the training process (--num-workers 0), to the bit.
    for name, tensor in first["network_weights"].items():
        assert torch.equal(again["network_weights"][name], tensor), name
    assert [row["train_loss"] for row in first["history"]] == [row["train_loss"] for row in again["history"]]
    assert any(not torch.equal(other["network_weights"][name], tensor)
               for name, tensor in first["network_weights"].items())
