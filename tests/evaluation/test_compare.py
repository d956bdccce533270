import csv
import json
import shutil

import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.evaluation.compare import compare_folders
from tests.image_files import write_nifti
from tests.work_folders import VALIDATED_CASES, build_validated_work

DATASET_JSON = {"labels": {"background": 0, "organ": 1}, "file_ending": ".nii.gz"}
NUM_CASES = 10


def _box(case_index: int) -> np.ndarray:
    mask = np.zeros((6, 12, 12), np.uint8)
    mask[1:5, 2:6 + case_index % 5, 2:9] = 1
    return mask


def _prediction_folders(root):
    """References, a perfect prediction of each, and one that misses the box's last slice."""
    for index in range(NUM_CASES):
        write_nifti(root / "references" / f"case_{index}.nii.gz", _box(index))
        write_nifti(root / "perfect" / f"case_{index}.nii.gz", _box(index))
        missing_slice = _box(index)
        missing_slice[4] = 0
        write_nifti(root / "missing_slice" / f"case_{index}.nii.gz", missing_slice)
    return root / "references", root / "perfect", root / "missing_slice"


def _rows(result, metric="Dice"):
    return {(row["model"], row["class"]): row for row in result["rows"] if row["metric"] == metric}


def test_a_model_better_by_construction_has_a_small_p_and_an_interval_above_zero(tmp_path):
    references, perfect, missing_slice = _prediction_folders(tmp_path)
    result, written = compare_folders([missing_slice, perfect], references, ["Dice", "HD95"], DATASET_JSON,
                                      tmp_path / "out", num_processes=1)
    assert result["baseline"] == "missing_slice" and result["cases"] == [f"case_{i}" for i in range(NUM_CASES)]
    organ = _rows(result)[("perfect", "organ")]
    # Dice of a box of 4 slices with one missing: 2 * 3 / (4 + 3) on every case.
    assert organ["mean_difference"] == pytest.approx(1 - 6 / 7)
    assert organ["baseline_mean"] == pytest.approx(6 / 7) and organ["model_mean"] == 1.0
    assert organ["ci_low"] > 0 and organ["ci_low"] <= organ["mean_difference"] <= organ["ci_high"]
    assert organ["p"] == pytest.approx(2 / 2 ** NUM_CASES)
    # Holm over the metric's two rows (organ and foreground mean).
    assert organ["p_holm"] == pytest.approx(2 * organ["p"]) and organ["significant"]
    assert (organ["wins"], organ["ties"], organ["losses"]) == (NUM_CASES, 0, 0)
    hd95 = _rows(result, "HD95")[("perfect", "organ")]
    assert hd95["better"] == "lower" and hd95["mean_difference"] == pytest.approx(-1.0)
    assert hd95["wins"] == NUM_CASES and hd95["ci_high"] < 0
    stored = json.loads(written["json"].read_text())
    assert stored["rows"][0]["differences"]["case_0"] == pytest.approx(1 - 6 / 7)
    with written["csv"].open() as stream:
        lines = list(csv.DictReader(stream))
    assert [(line["metric"], line["class"]) for line in lines] == [
        ("Dice", "organ"), ("Dice", "foreground mean"), ("HD95", "organ"), ("HD95", "foreground mean")]
    assert written["plot"].read_bytes().startswith(b"\x89PNG")


def test_two_identical_models_differ_by_nothing(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None})
    copy = shutil.copytree(work / "good_unet__3d_fullres", tmp_path / "again" / "good_unet__3d_fullres")
    result, written = compare_folders([work / "good_unet__3d_fullres", copy], metrics=["Dice", "NSD", "LesionF1"])
    assert {row["model"] for row in result["rows"]} == {"again/good_unet__3d_fullres"}  # names apart by their path
    for row in result["rows"]:
        assert (row["mean_difference"], row["ci_low"], row["ci_high"], row["p"], row["p_holm"]) == (0, 0, 0, 1, 1)
        assert (row["wins"], row["ties"], row["losses"]) == (0, len(VALIDATED_CASES), 0) and not row["significant"]
    assert written["json"] == work / "compare" / "compare.json"  # beside the first model by default


def test_model_folders_are_compared_on_their_cross_validation_cases(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    result, _ = compare_folders([work / "good_unet__3d_fullres", work / "weak_unet__3d_fullres"])
    rows = _rows(result)
    infection = rows[("weak_unet__3d_fullres", "infection")]
    # The weak model misses one of two lesions on every case: it loses all four.
    assert infection["losses"] == len(VALIDATED_CASES) and infection["mean_difference"] < -0.2
    # Four cases cannot reach 0.05: the smallest exact p is 0.125, times 3 rows for Holm.
    assert infection["p"] == pytest.approx(0.125) and infection["p_holm"] == pytest.approx(0.375)
    assert not infection["significant"]
    assert set(rows) == {("weak_unet__3d_fullres", name) for name in ("lung", "infection", "foreground mean")}


def test_mismatched_cases_are_refused_in_one_line_naming_them(tmp_path):
    references, perfect, missing_slice = _prediction_folders(tmp_path)
    (perfect / "case_3.nii.gz").unlink()
    (missing_slice / "case_7.nii.gz").unlink()
    with pytest.raises(CovplanError) as raised:
        compare_folders([missing_slice, perfect], references, dataset_json=DATASET_JSON, num_processes=1)
    message = str(raised.value)
    assert message == ("the models were scored on different cases: missing_slice lacks case_7; perfect lacks case_3; "
                       "compare models of the same cross-validation split, or predictions of the same cases")


def test_a_prediction_folder_needs_references_and_a_metric_must_be_scored(tmp_path):
    references, perfect, missing_slice = _prediction_folders(tmp_path)
    with pytest.raises(CovplanError, match="no fold_N folders, so no model folder; .* --references DIR"):
        compare_folders([missing_slice, perfect])
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    with pytest.raises(CovplanError, match=r"no Accuracy per case \(its metrics: .*Dice"):
        compare_folders([work / "good_unet__3d_fullres", work / "weak_unet__3d_fullres"], metrics=["Accuracy"])
    with pytest.raises(CovplanError, match="compare needs two models or more"):
        compare_folders([perfect], references)
