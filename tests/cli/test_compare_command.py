import json

from click.testing import CliRunner

from covplan.cli import cli
from covplan.evaluation import evaluate_folder
from tests.work_folders import VALIDATED_DATASET_JSON, build_validated_work

GOOD = "good_unet__3d_fullres"
WEAK = "weak_unet__3d_fullres"


def test_compare_prints_a_table_per_metric_and_writes_its_files(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    output = tmp_path / "comparison"
    result = CliRunner().invoke(cli, ["compare", str(work / GOOD), str(work / WEAK), "--metric", "Dice",
                                      "--metric", "HD95", "-o", str(output)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (f"Dice (higher is better), model - baseline {GOOD} over 4 cases; p: paired Wilcoxon, "
                        "Holm-corrected over 3 rows")
    assert lines[1].split() == ["model", "class", "n", "baseline", "model", "diff", "95%", "CI", "p", "(Holm)",
                                "W/T/L"]
    infection = next(line for line in lines[2:5] if " infection " in line).split()
    assert infection[:3] == [WEAK, "infection", "4"] and infection[-2:] == ["0.3750", "0/0/4"]
    assert lines[5].startswith("HD95 (lower is better)")
    assert lines[-1] == f"written: {output / 'compare.json'}, {output / 'compare.csv'}, {output / 'compare.png'}"
    assert json.loads((output / "compare.json").read_text())["metrics"] == ["Dice", "HD95"]


def test_mismatched_cases_are_one_line_error(tmp_path):
    work = build_validated_work(tmp_path / "work", {"good_unet": None, "weak_unet": None})
    validation = work / WEAK / "fold_1" / "validation"
    (validation / "case_3.nii.gz").unlink()
    evaluate_folder(work / "gt_segmentations", validation, validation / "summary.json", dataset_json=VALIDATED_DATASET_JSON,
                    num_processes=1, allow_missing_predictions=True)
    result = CliRunner().invoke(cli, ["compare", str(work / GOOD), str(work / WEAK)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: the models were scored on different cases: {WEAK} lacks case_3; "
                                     "compare models of the same cross-validation split, or predictions of the same "
                                     "cases")
