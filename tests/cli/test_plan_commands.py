from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from tests.fake_plugins import BuildFailsNet, Registers



def test_plan_explains_every_value_and_preprocesses(raw_3d: Path, fingerprinted_work: Path):
    result = CliRunner().invoke(cli, ["plan", str(raw_3d), "-o", str(fingerprinted_work), "-c", "3d_fullres", "--num-folds", "3",
                                      "--explain", "--preprocess", "-j", "1"])

    assert result.exit_code == 0, result.output
    plans = json.loads((fingerprinted_work / "plans_plain_unet.json").read_text())
    fullres = plans["configurations"]["3d_fullres"]
    assert f"3d_fullres          patch {' x '.join(map(str, fullres['patch_size']))}, batch 2" in result.output
    for start in ("median image after resampling", "spacing", "patch size", "memory: estimate", "batch size 2:",
                  "topology:", "normalisation of channel 0 (CT): CTNormalization"):
        assert f"    - {start}" in result.output, start
    assert len(json.loads((fingerprinted_work / "splits_final.json").read_text())) == 3
    assert f"preprocessed {fullres['data_identifier']}" in result.output
    assert (fingerprinted_work / fullres["data_identifier"] / "case_000.pkl").is_file()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--arch", "qchc_unte"], "Error: unknown architecture 'qchc_unte'; known: "),
    (["--preset", "method-z"], "Error: unknown preset 'method-z'; known: method-a"),
    (["--gpu-memory", "0.000001", "-c", "3d_fullres"], "Error: a memory target of 1e-06 GB is too small"),
    (["--num-folds", "9"], "Error: 9 folds need at least 9 patients, but the dataset has 6 patients (8 cases); use --num-folds 6 or fewer"),
])
def test_plan_errors_are_one_line(raw_3d: Path, fingerprinted_work: Path, arguments: list[str], message: str):
    result = CliRunner().invoke(cli, ["plan", str(raw_3d), "-o", str(fingerprinted_work), *arguments])

    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert not list(fingerprinted_work.glob("plans_*"))


def test_preprocess_without_plans_is_one_line(tmp_path: Path):
    result = CliRunner().invoke(cli, ["preprocess", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path} has no covplan_work.json; run `covplan plan DATASET_DIR -o " \
                            f"{tmp_path}` first\n"


def test_plan_refuses_a_plugin_whose_network_cannot_be_built_before_any_work(raw_3d: Path, tmp_path: Path,
                                                                             register_plugin):

    register_plugin(Registers(BuildFailsNet()), "undo-fails")
    result = CliRunner().invoke(cli, ["plan", str(raw_3d), "-o", str(tmp_path / "work"), "-a", "build_fails_net"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: architecture 'build_fails_net' (<in-process undo-fails>): building or "
                                    "running its network (deep_supervision=False)")
    assert "raised RuntimeError: weights file missing" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "work").exists()
