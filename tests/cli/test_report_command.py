import csv

import numpy as np
from click.testing import CliRunner

from covplan.cli import cli
from tests.image_files import LESION_TYPE_LABELS, write_json, write_png


def _slices(tmp_path):
    label_map = np.zeros((8, 8), np.uint8)
    label_map[:2, :] = 1
    write_png(tmp_path / "pred" / "a.png", label_map)
    write_png(tmp_path / "pred" / "b.png", np.zeros((8, 8), np.uint8))
    write_png(tmp_path / "images" / "a_0000.png", np.full((8, 8), 90, np.uint8))
    write_json(tmp_path / "dataset.json", {"labels": LESION_TYPE_LABELS, "file_ending": ".png"})
    write_json(tmp_path / "covplan_dataset.json", {"cases": {"a": {"patient_id": "p"}, "b": {"patient_id": "p"}},
                                                   "patients": {"p": {"severity": "mild"}}})
    return tmp_path / "pred"


def test_report_finds_dataset_and_patients_beside_the_predictions(tmp_path):
    pred_dir = _slices(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "--images", str(tmp_path / "images"),
                                      "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "1 patient(s), 1 positive" in result.output
    with (tmp_path / "report" / "report.csv").open() as stream:
        (row,) = list(csv.DictReader(stream))
    assert (row["patient_id"], row["cases"], row["positive_cases"], row["ggo_mm2"]) == ("p", "2", "1", "16.0")
    assert (tmp_path / "report" / "severity_by_grade.png").is_file()


def test_report_without_dataset_json_says_how_to_fix_it(tmp_path):
    pred_dir = _slices(tmp_path)
    (tmp_path / "dataset.json").unlink()
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "-o", str(tmp_path / "report")])
    assert result.exit_code == 1
    assert result.output == f"Error: {pred_dir}: no dataset.json in or beside it; give --dataset-json to name the labels\n"


def test_report_refuses_an_existing_folder_without_overwrite(tmp_path):
    pred_dir = _slices(tmp_path)
    assert CliRunner().invoke(cli, ["report", str(pred_dir), "-o", str(tmp_path / "report")]).exit_code == 0
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "-o", str(tmp_path / "report")])
    assert result.exit_code == 1 and "already exists; choose another output folder or pass --overwrite" in result.output
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "-o", str(tmp_path / "report"), "--overwrite"])
    assert result.exit_code == 0, result.output


def test_lung_masks_none_leaves_the_lung_unknown_and_a_missing_folder_is_refused(tmp_path):
    pred_dir = _slices(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "--images", str(tmp_path / "images"),
                                      "--lung-masks", "none", "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "report" / "report.csv").open() as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["lung_mm2"] == "" and row["severity_grade"] == ""
    result = CliRunner().invoke(cli, ["report", str(pred_dir), "--lung-masks", str(tmp_path / "nowhere"),
                                      "-o", str(tmp_path / "report2")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'nowhere'} is not a folder; give auto, none or a folder of lung masks" in result.output
