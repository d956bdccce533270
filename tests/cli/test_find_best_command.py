import json

import numpy as np
import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.labels.files import read_label_map
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
from tests.work_folders import VALIDATED_CASES, build_validated_work, validated_good_prediction

GOOD = "good_unet__3d_fullres"
WEAK = "weak_unet__3d_fullres"


def test_find_best_ranks_models_and_ensembles_and_stores_the_post_processing(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": 0.8, "weak_unet": 0.6, "plain_unet": None})
    result = CliRunner().invoke(cli, ["find-best", str(work), "-j", "1"])
    assert result.exit_code == 0, result.output
    found = json.loads((work / "find_best.json").read_text())
    ranking = [(entry["name"], entry["kind"]) for entry in found["ranking"]]
    # Only the two models with saved probabilities form an ensemble.
    assert ranking[0] == (GOOD, "model") and (f"{GOOD}+{WEAK}", "ensemble") in ranking
    assert len(ranking) == 4 and found["ensemble_note"] is None
    assert found["best"] == GOOD
    ensemble = next(entry for entry in found["ranking"] if entry["kind"] == "ensemble")
    # The more confident member wins every disputed voxel: the ensemble predicts what it predicts.
    for index, case_id in enumerate(VALIDATED_CASES):
        merged, _ = read_label_map(SimpleITKIO(), work / "ensembles" / ensemble["name"] / f"{case_id}.nii.gz")
        assert np.array_equal(merged, validated_good_prediction(index))
    stored = json.loads((work / GOOD / "postprocessing.json").read_text())
    assert [rule["rule"] for rule in stored["rules"]] == ["restrict_to_lung", "remove_small_components"]
    assert found["postprocessing"]["rules"] == stored["rules"]
    assert '  {"rule": "restrict_to_lung", "lesion_labels": [2], "lung_labels": [1]}' in result.output
    assert f"  Dice infection: {stored['dice_before']['2']:.4f} -> 1.0000" in result.output
    assert f"best: {GOOD}" in result.output
    # The ensemble predicts what the good model predicts: no difference, and the output says so.
    assert found["against_runner_up"]["runner_up"] == f"{GOOD}+{WEAK}"
    assert (found["against_runner_up"]["p"], found["against_runner_up"]["significant"]) == (1.0, False)
    assert (f"against the runner-up {GOOD}+{WEAK}: foreground Dice +0.0000 per case (95% CI +0.0000 to +0.0000, "
            "4 cases, paired Wilcoxon p = 1.0000): not significantly better at 0.05; chosen by mean, as nnU-Net "
            "chooses") in result.output


def test_without_saved_probabilities_the_output_says_ensembles_need_them(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": 0.6})
    output = tmp_path / "best.json"
    result = CliRunner().invoke(cli, ["find-best", str(work), "--arch", "weak_unet", "--arch", "good_unet",
                                      "-o", str(output), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert ("no ensembles: ensembles need saved validation probabilities (.npz files, as nnU-Net writes them "
            f"with --npz) in every fold of at least two models (models with them: {WEAK})") in result.output
    assert [entry["name"] for entry in json.loads(output.read_text())["ranking"]] == [GOOD, WEAK]
    assert not (work / "find_best.json").exists() and not (work / "ensembles").exists()


def test_only_the_chosen_architectures_are_compared(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    result = CliRunner().invoke(cli, ["find-best", str(work), "--arch", "weak_unet", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads((work / "find_best.json").read_text())["best"] == WEAK
    assert (work / WEAK / "postprocessing.json").is_file() and not (work / GOOD / "postprocessing.json").exists()


def test_a_work_folder_without_references_is_one_line_error(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None})
    (work / "gt_segmentations").rename(work / "references")
    result = CliRunner().invoke(cli, ["find-best", str(work)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {work / 'gt_segmentations'}: missing; find-best compares the "
                                     "validation predictions with the references the trainer copies there")


def test_models_trained_with_more_seeds_show_their_spread(tmp_path):
    import shutil

    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    # A second seed of the good model that learnt only what the weak one did.
    shutil.copytree(work / WEAK, work / "seeds" / "seed_2" / GOOD)
    result = CliRunner().invoke(cli, ["find-best", str(work), "-j", "1"])
    assert result.exit_code == 0, result.output
    spread = json.loads((work / "find_best.json").read_text())["spread_over_seeds"]
    assert list(spread) == [GOOD]
    dice = spread[GOOD]["foreground_dice"]
    assert list(dice) == [GOOD, f"seeds/seed_2/{GOOD}"]
    assert spread[GOOD]["mean"] == pytest.approx(np.mean(list(dice.values())))
    assert spread[GOOD]["sd"] == pytest.approx(np.std(list(dice.values()), ddof=1))
    assert (f"over 2 seeds: {GOOD} {spread[GOOD]['mean']:.4f} +- {spread[GOOD]['sd']:.4f} (standard deviation)"
            in result.output)
