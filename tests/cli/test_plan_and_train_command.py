"""``covplan plan-and-train``: a raw dataset in, trained folds and the CV table out."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.training.checkpoints import load_checkpoint
from tests.raw_datasets import write_raw_dataset


@pytest.mark.slow
def test_plans_preprocesses_trains_two_folds_and_prints_the_table(raw_2d, tmp_path):
    # With a tracker into a new WORK folder: the tracker's own folder, made before planning,
    # is no reason to refuse the folder (issue 29, item 1).
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [
        "plan-and-train", str(raw_2d), "-o", str(work), "--arch", "plain_unet", "--folds", "0,1", "-j", "1",
        "--epochs", "1", "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta",
        "--tracker", "tensorboard"])
    assert result.exit_code == 0, result.output
    assert any((work / "tensorboard").iterdir())
    model_folder = work / "plain_unet__2d"
    assert load_checkpoint(model_folder / "fold_1" / "checkpoint_final.pth")["init_args"]["plans"] == \
        json.loads((work / "plans_plain_unet.json").read_text())
    cv_summary = json.loads((model_folder / "cv_summary.json").read_text())
    assert list(cv_summary["folds"]) == ["0", "1"]
    lines = result.stdout.splitlines()
    assert lines[-5] == "plain_unet__2d:"
    assert lines[-4].split() == ["fold", "Dice", "lung", "Dice", "lesion", "minutes", "used", "/", "budget"]
    assert [line.split()[0] for line in lines[-3:]] == ["0", "1", "mean"]
    lung_mean = cv_summary["mean"]["lung"]
    assert lines[-1].split()[:2] == ["mean", "-" if lung_mean is None else f"{lung_mean:.4f}"]


@pytest.mark.slow
def test_fewer_patients_than_five_plan_one_fold_each_and_say_so(tmp_path, caplog):
    raw = write_raw_dataset(tmp_path / "Dataset503_Three", num_cases=3, shape_zyx=(48, 40), spacing_xyz=(0.7, 0.7))
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [
        "plan-and-train", str(raw), "-o", str(work), "-a", "plain_unet", "-f", "2", "-j", "1", "--epochs", "1",
        "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta", "--no-evaluate"])
    assert result.exit_code == 0, result.output
    assert f"{raw} has 3 patients: planning 3 folds instead of 5, one patient per validation fold " \
           f"(--num-folds chooses)" in caplog.text
    validation = [split["val"] for split in json.loads((work / "splits_final.json").read_text())]
    assert sorted(validation) == [["case_000"], ["case_001"], ["case_002"]]
    assert (work / "plain_unet__2d" / "fold_2" / "checkpoint_final.pth").is_file()


def test_a_fold_the_split_will_not_have_is_refused_before_any_work_naming_the_options(tmp_path):
    raw = write_raw_dataset(tmp_path / "Dataset503_Three", num_cases=3, shape_zyx=(48, 40), spacing_xyz=(0.7, 0.7))
    result = CliRunner().invoke(cli, ["plan-and-train", str(raw), "-o", str(tmp_path / "work"), "-f", "0", "3"])
    assert result.exit_code == 1
    assert result.output == (f"Error: fold 3 is out of range: {raw} is split into 3 folds, 0 to 2; choose --folds "
                             f"among them (or all), or plan more with --num-folds\n")
    result = CliRunner().invoke(cli, ["plan-and-train", str(raw), "-o", str(tmp_path / "work"), "--num-folds", "4"])
    assert result.exit_code == 1
    assert result.output.endswith("4 folds need at least 4 patients, but the dataset has 3 patients (3 cases); "
                                  "use --num-folds 3 or fewer\n")
    assert not (tmp_path / "work").exists()


def test_repeats_train_every_fold_with_the_next_seeds_in_model_folders_compare_reads(raw_2d, tmp_path):
    import torch

    work = tmp_path / "work"
    result = CliRunner().invoke(cli, [
        "plan-and-train", str(raw_2d), "-o", str(work), "-a", "plain_unet", "-f", "0", "-j", "1", "--epochs", "1",
        "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta", "--seed", "7",
        "--repeats", "2"])
    assert result.exit_code == 0, result.output
    first = work / "plain_unet__2d"
    second = work / "seeds" / "seed_8" / "plain_unet__2d"
    seeds = [load_checkpoint(model / "fold_0" / "checkpoint_final.pth") for model in (first, second)]
    assert [checkpoint["settings"]["seed"] for checkpoint in seeds] == [7, 8]
    assert any(not torch.equal(seeds[1]["network_weights"][name], tensor)
               for name, tensor in seeds[0]["network_weights"].items())
    # The second seed trains on WORK's own plans and split, through links.
    assert (work / "seeds" / "seed_8" / "plans_plain_unet.json").resolve() == (work / "plans_plain_unet.json").resolve()
    assert "plain_unet__2d:" in result.stdout.splitlines() and "seeds/seed_8/plain_unet__2d:" in result.stdout
    compared = CliRunner().invoke(cli, ["compare", str(first), str(second)])
    assert compared.exit_code == 0, compared.output
    assert compared.stdout.splitlines()[0].startswith("Dice (higher is better), model - baseline plain_unet__2d over")
    assert "seeds/seed_8/plain_unet__2d" in compared.stdout.splitlines()[2]
