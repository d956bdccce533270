import json

import click
import pytest

from click.testing import CliRunner

from covplan.cli import cli
from covplan.cli.evaluate_command import echo_means
from tests.image_files import LUNG_INFECTION_LABELS, lung_infection_pair, write_json, write_nifti


def _dataset(tmp_path):
    reference, prediction = lung_infection_pair()
    write_nifti(tmp_path / "raw" / "labelsTr" / "c1.nii.gz", reference)
    write_json(tmp_path / "raw" / "dataset.json", {"labels": LUNG_INFECTION_LABELS, "file_ending": ".nii.gz"})
    write_nifti(tmp_path / "pred" / "c1.nii.gz", prediction)
    return tmp_path / "raw" / "labelsTr", tmp_path / "pred"


def test_evaluate_finds_dataset_json_beside_labels_and_writes_summary(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "infection                 0.5714  0.4000  0.5000  0.9975  0.6667" in result.output
    summary = json.loads((pred_dir / "summary.json").read_text())
    assert summary["names"]["(1, 2)"] == "lungs"


def test_evaluate_takes_comma_separated_labels_and_named_regions(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    output = tmp_path / "summary.json"
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "--labels", "1,3",
                                      "--regions", "all=1,2,3", "-o", str(output), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(output.read_text())["mean"]) == ["(1, 2, 3)", "1", "3"]


def test_evaluate_errors_are_one_line_naming_the_file(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    write_nifti(pred_dir / "c1.nii.gz", lung_infection_pair()[0][:, :, :5])
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "-j", "1"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {pred_dir / 'c1.nii.gz'}: shape (4, 10, 5) differs")
    assert len(result.output.strip().splitlines()) == 1


def test_bad_region_text_is_refused_before_any_work(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "--regions", "lungs"])
    assert result.exit_code == 2
    assert "NAME=LABEL" in result.output
    assert not (pred_dir / "summary.json").exists()


def test_evaluate_options_choose_the_tolerance_and_turn_off_boundary_and_lesion_metrics(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "-j", "1", "--surface-tolerance", "0",
                                      "--lesion-overlap", "0.6"])
    assert result.exit_code == 0, result.output
    infection = json.loads((pred_dir / "summary.json").read_text())["mean"]["3"]
    # Surfaces: reference x = 0..3, prediction x = 2..3 and a speck one slice up at x = 0;
    # 2 + 2 of the 4 + 3 surface voxels lie at distance 0. The prediction covers half of the
    # reference lesion (not more than 0.6); of its two lesions only x = 2..3 lies in the reference.
    assert infection["NSD"] == pytest.approx(4 / 7)
    assert (infection["LesionsDetected"], infection["LesionPrecision"]) == (0, 0.5)
    quick = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "-j", "1", "--no-boundary", "--no-lesions"])
    assert quick.exit_code == 0, quick.output
    assert quick.output.splitlines()[0].split() == ["class", "Dice", "IoU", "Sens", "Spec", "Prec"]
    assert "HD95" not in json.loads((pred_dir / "summary.json").read_text())["mean"]["3"]


def test_a_label_value_dataset_json_does_not_name_is_refused_as_report_refuses_it(tmp_path):
    gt_dir, pred_dir = _dataset(tmp_path)
    prediction = lung_infection_pair()[1]
    prediction[0, 0, 0] = 7
    write_nifti(pred_dir / "c1.nii.gz", prediction)
    result = CliRunner().invoke(cli, ["evaluate", str(gt_dir), str(pred_dir), "-j", "1"])
    assert result.exit_code == 1
    assert result.output == (f"Error: {pred_dir / 'c1.nii.gz'}: label value(s) [7] are not in the dataset.json labels; "
                             f"give the dataset.json that names every label (--dataset-json)\n")
    assert not (pred_dir / "summary.json").exists()


def test_wide_values_keep_a_space_between_columns(tmp_path):
    summary = {"names": {"1": "lung"}, "mean": {1: {"Dice": 0.0161, "HD95": 174.15012}},
               "foreground_mean": {"Dice": 0.0161, "HD95": 174.15012}}

    @click.command()
    def show():
        echo_means(summary)

    lines = CliRunner().invoke(show).output.splitlines()
    assert lines[0].split() == ["class", "Dice", "HD95"]
    assert lines[1].split() == ["lung", "0.0161", "174.1501"]
    assert lines[2].split() == ["foreground", "mean", "0.0161", "174.1501"]
    assert len({len(line) for line in lines}) == 1  # the columns line up
