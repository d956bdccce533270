import json

import pytest

from covplan.errors import CovplanError
from covplan.evaluation import evaluate_folder
from covplan.labels.files import read_label_map
from covplan.postprocessing import (apply_postprocessing, choose_postprocessing, load_postprocessing,
                                    save_postprocessing)
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
from tests.image_files import write_nifti
from tests.work_folders import VALIDATED_DATASET_JSON, build_validated_work

MODEL = "good_unet__3d_fullres"


@pytest.fixture
def work(tmp_path):
    return build_validated_work(tmp_path / "work", {"good_unet": None})


def _validation_dirs(work):
    return [work / MODEL / f"fold_{fold}" / "validation" for fold in (0, 1)]


def test_rules_that_raise_dice_are_kept_and_rules_that_lower_it_are_rejected(work):
    choice = choose_postprocessing(work / "gt_segmentations", _validation_dirs(work), VALIDATED_DATASET_JSON)
    # The air specks go with restrict_to_lung, the lung specks (1 mm³) with the smallest
    # size; 50 mm³ would also remove the true 18 mm³ lesions. keep_largest would drop one of
    # the two lungs (one label) and fill_holes would fill the true air pocket: both rejected.
    assert choice["rules"] == [{"rule": "restrict_to_lung", "lesion_labels": [2], "lung_labels": [1]},
                               {"rule": "remove_small_components", "label": 2, "min_size_mm3": 10.0}]
    assert choice["dice_after"]["2"] == pytest.approx(1.0)
    assert choice["dice_before"]["2"] == pytest.approx(2 * 36 / (36 + 41))
    tried = {json.dumps(entry["rule"], sort_keys=True): entry for entry in choice["tried"]}
    keep_largest = tried[json.dumps({"rule": "keep_largest", "label": 1}, sort_keys=True)]
    assert not keep_largest["kept"] and keep_largest["dice_after"] < keep_largest["dice_before"]
    fill_holes = tried[json.dumps({"rule": "fill_holes", "label": 1}, sort_keys=True)]
    assert not fill_holes["kept"] and fill_holes["dice_after"] < fill_holes["dice_before"]
    assert choice["cases"] == ["case_0", "case_1", "case_2", "case_3"]


def test_dice_after_equals_evaluate_on_the_post_processed_files(work, tmp_path):
    choice = choose_postprocessing(work / "gt_segmentations", _validation_dirs(work), VALIDATED_DATASET_JSON)
    reader = SimpleITKIO()
    for folder in _validation_dirs(work):
        for path in folder.glob("*.nii.gz"):
            segmentation, spacing = read_label_map(reader, path)
            write_nifti(tmp_path / "processed" / path.name, apply_postprocessing(segmentation, choice["rules"], spacing))
    summary = evaluate_folder(work / "gt_segmentations", tmp_path / "processed", dataset_json=VALIDATED_DATASET_JSON,
                              num_processes=1)
    assert summary["mean"][1]["Dice"] == pytest.approx(choice["dice_after"]["1"])
    assert summary["mean"][2]["Dice"] == pytest.approx(choice["dice_after"]["2"])


def test_the_choice_is_stored_with_the_model_and_read_back(work):
    choice = choose_postprocessing(work / "gt_segmentations", work / MODEL / "fold_0" / "validation", VALIDATED_DATASET_JSON)
    path = save_postprocessing(choice, work / MODEL)
    assert path == work / MODEL / "postprocessing.json"
    assert load_postprocessing(work / MODEL) == json.loads(json.dumps(choice))
    assert load_postprocessing(work / "gt_segmentations") == {"rules": []}


def test_a_damaged_postprocessing_file_is_named(work):
    (work / MODEL / "postprocessing.json").write_text(json.dumps({"rules": [{"rule": "smooth"}]}))
    with pytest.raises(CovplanError, match=r"postprocessing\.json: unknown post-processing rule 'smooth'"):
        load_postprocessing(work / MODEL)
    (work / MODEL / "postprocessing.json").write_text("{")
    with pytest.raises(CovplanError, match=r"postprocessing\.json is not valid JSON"):
        load_postprocessing(work / MODEL)


def test_rules_of_a_model_or_of_its_ensemble_folder(tmp_path):
    from covplan.postprocessing.choose import postprocessing_for_models

    single, other = tmp_path / "a__2d", tmp_path / "b__2d"
    single.mkdir(), other.mkdir()
    rule = {"rule": "keep_largest", "label": 1}
    (single / "postprocessing.json").write_text(json.dumps({"rules": [rule]}))
    assert postprocessing_for_models([single]) == [rule]
    assert postprocessing_for_models([other]) == []
    assert postprocessing_for_models([single, other]) == []  # find-best never ensembled them
    ensemble = tmp_path / "ensembles" / "b__2d+a__2d"
    ensemble.mkdir(parents=True)
    (ensemble / "postprocessing.json").write_text(json.dumps({"rules": [rule, rule]}))
    assert postprocessing_for_models([single, other]) == [rule, rule]
