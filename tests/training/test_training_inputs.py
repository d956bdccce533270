"""Reading a WORK folder for training: clear errors for what is missing."""

from __future__ import annotations

import json
import shutil

import pytest

from covplan.errors import CovplanError
from covplan.training.inputs import fold_case_identifiers, load_training_inputs
from covplan.work_folder import parse_fold
from tests.work_folders import TINY_TRAINING


def test_reads_plans_configuration_and_folds(sphere_work):
    inputs = load_training_inputs(sphere_work, "plain_unet")
    assert inputs.configuration == "3d_fullres"
    assert inputs.plan["patch_size"] == [16, 16, 16]
    assert inputs.preprocessed_folder == sphere_work / "plans_plain_unet_3d_fullres"
    assert inputs.fold_folder(2) == sphere_work / "plain_unet__3d_fullres" / "fold_2"
    splits = json.loads((sphere_work / "splits_final.json").read_text())
    assert fold_case_identifiers(inputs, 1) == (splits[1]["train"], splits[1]["val"])
    every_case = [f"case_{i:03d}" for i in range(6)]
    assert fold_case_identifiers(inputs, "all") == (every_case, every_case)


def test_missing_plans_say_which_command_makes_them(tmp_path):
    with pytest.raises(CovplanError, match=r"plans_plain_unet.json not found; run `covplan plan .* --preprocess`"):
        load_training_inputs(tmp_path, "plain_unet")


def test_missing_preprocessed_cases_say_to_preprocess(sphere_work):
    shutil.rmtree(sphere_work / "plans_plain_unet_3d_fullres")
    with pytest.raises(CovplanError, match="no preprocessed cases in .*plans_plain_unet_3d_fullres; run `covplan preprocess"):
        load_training_inputs(sphere_work, "plain_unet")


def test_unplanned_configuration_lists_the_planned_ones(sphere_work):
    with pytest.raises(CovplanError, match="configuration '2d' is not in .*plans_plain_unet.json; planned: 3d_fullres"):
        load_training_inputs(sphere_work, "plain_unet", "2d")


def test_fold_out_of_range(sphere_work):
    inputs = load_training_inputs(sphere_work, "plain_unet")
    with pytest.raises(CovplanError, match="fold 5 is out of range: .*splits_final.json has folds 0 to 4"):
        fold_case_identifiers(inputs, 5)


def test_parse_fold():
    assert parse_fold("3") == 3 and parse_fold("all") == "all"
    with pytest.raises(CovplanError, match="fold must be a number or 'all', not 'first'"):
        parse_fold("first")


def test_a_deleted_preprocessed_file_stops_training_before_it_starts(sphere_work):
    from covplan.training import TrainingSettings, train_fold

    (sphere_work / "plans_plain_unet_3d_fullres" / "case_002_seg.b2nd").unlink()
    (sphere_work / "gt_segmentations" / "case_004.nii.gz").unlink()
    fold = next(index for index, split in enumerate(json.loads((sphere_work / "splits_final.json").read_text()))
                if "case_004" in split["val"])
    with pytest.raises(CovplanError, match=r"2 file\(s\) of the fold's cases are missing "
                                           r"\(plans_plain_unet_3d_fullres/case_002_seg.b2nd, "
                                           r"gt_segmentations/case_004.nii.gz\); rebuild them with `covplan preprocess "
                                           r".*work3d -a plain_unet -c 3d_fullres --overwrite`"):
        train_fold(sphere_work, "plain_unet", fold, settings=TrainingSettings(num_epochs=1, **TINY_TRAINING))
    assert not (sphere_work / "plain_unet__3d_fullres").exists()


def test_a_truncated_preprocessed_file_is_named_before_training_starts(sphere_work):
    # Without the check, blosc2 raises mid-epoch once a batch draws the case, naming neither.
    from covplan.training import TrainingSettings, train_fold

    damaged = sphere_work / "plans_plain_unet_3d_fullres" / "case_003.b2nd"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    with pytest.raises(CovplanError, match=rf"^{damaged}: the preprocessed case case_003 cannot be read \(.*\); the "
                                           r"file is damaged or truncated: rebuild it with `covplan preprocess "
                                           r".*work3d -a plain_unet -c 3d_fullres --overwrite`$"):
        train_fold(sphere_work, "plain_unet", "all", settings=TrainingSettings(num_epochs=1, **TINY_TRAINING))
    assert not (sphere_work / "plain_unet__3d_fullres").exists()
