"""Journeys, not features (issue 29): what the docs tell a user to type, and the main
options of `train`, `predict` and `tune` combined pairwise, run as a user runs them, from
empty folders, on the tiny data of tests/work_folders.py.

- Every documented `$ covplan ...` line of docs/*.md names a command and options it has,
  with values its choices allow (a renamed option breaks the docs without a word).
- `train`, `predict` and `tune`: an all-pairs selection (tests/pairwise.py) of their
  options, each case one run in a fresh folder, checked for exit status 0 and for the
  files each option promises. The long walk-throughs run in tests/docs/test_tutorial.py
  and test_plugin_protocol.py. plan-and-train plans before it trains (tens of seconds a
  run): its options have tests of their own (a tracker with two folds, --repeats, the
  launcher, MLflow, the budget) rather than a product here."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
from itertools import combinations
from pathlib import Path

import click
import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from covplan.cli import cli
from covplan.training.checkpoints import load_checkpoint
from tests.dicom_files import write_ct_series
from tests.pairwise import all_pairs
from tests.paths import REPO_ROOT
from tests.processes import dead_pid

DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
# Words of a documented line that are not covplan's: a shell redirection and what follows.
SHELL_WORDS = (">", "|", "&&")


def documented_lines() -> list[tuple[str, list[str]]]:
    """(page:line, arguments after ``covplan``) of every ``$ covplan`` line of docs/*.md,
    continuation lines joined and comments dropped."""
    lines = []
    for page in DOCS:
        text = page.read_text()
        for match in re.finditer(r"^\$ covplan ((?:.*\\\n)*.*)", text, re.MULTILINE):
            words = shlex.split(match.group(1).replace("\\\n", " "), comments=True)
            cut = min([words.index(word) for word in SHELL_WORDS if word in words], default=len(words))
            lines.append((f"{page.name}:{text[:match.start()].count(chr(10)) + 1}", words[:cut]))
    return lines


def unknown_words(arguments: list[str]) -> list[str]:
    """What click would refuse in a command line before looking at any file: an unknown
    command or option, an option without its value, a value outside an option's choices."""
    words = [word for word in arguments if word not in ("-v", "--verbose")]
    command: click.Command | None = cli
    while isinstance(command, click.Group):  # `convert covid-ct-seg`: a group, then its command
        command = command.get_command(click.Context(command), words[0])
        if command is None:
            return [words[0]]
        words = words[1:] if isinstance(command, click.Group) else words
    options = {opt: param for param in command.params if isinstance(param, click.Option)
               for opt in param.opts + param.secondary_opts}
    refused, rest = [], iter(words[1:])  # words[0]: the command's own name
    for word in rest:
        name = word.split("=", 1)[0]
        if not word.startswith("-") or word == "-":
            continue
        if name not in options:
            refused.append(word)
            continue
        param = options[name]
        if param.is_flag or param.count:
            continue
        value = word.split("=", 1)[1] if "=" in word else next(rest, None)
        if value is None:
            refused.append(f"{word} (no value)")
        elif isinstance(param.type, click.Choice) and value not in param.type.choices:
            refused.append(f"{word} {value}")
    return refused


def test_the_docs_show_covplan_lines_of_every_kind():
    commands = {arguments[0] for _, arguments in documented_lines()}
    assert {"plan", "plan-and-train", "train", "predict", "tune", "export", "compare", "report"} <= commands


def test_every_documented_command_line_names_options_its_command_has():
    refused = {place: unknown_words(arguments) for place, arguments in documented_lines()}
    assert {place: words for place, words in refused.items() if words} == {}


def test_all_pairs_covers_every_pair_of_values_in_fewer_cases_than_the_product():
    factors = {"a": [0, 1, 2], "b": ["x", "y"], "c": [True, False], "d": [0, 1]}
    cases = all_pairs(factors)
    for first, second in combinations(factors, 2):
        assert {(case[first], case[second]) for case in cases} == {
            (one, other) for one in factors[first] for other in factors[second]}
    assert len(cases) < 3 * 2 * 2 * 2 and all_pairs(factors) == cases


# `covplan train` on a fresh copy of a tiny preprocessed WORK folder.

TRAIN_FACTORS = {
    "work": ["work3d", "work2d"],  # 3d_fullres spheres, 2d discs
    "length": ["epochs", "time_budget"],
    "tracker": ["none", "tensorboard"],
    "start": ["fresh", "after_kill"],  # after_kill: a killed run's lock, then --resume
    "seed": ["default", "7"],
    "evaluate": ["evaluate", "no-evaluate"],
}
TRAIN_CASES = all_pairs(TRAIN_FACTORS)
CONFIGURATION = {"work3d": "plain_unet__3d_fullres", "work2d": "plain_unet__2d"}


@pytest.mark.slow
@pytest.mark.parametrize("case", TRAIN_CASES, ids=lambda case: "-".join(case.values()))
def test_train_options_combined(case, nnunet_work_root, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(nnunet_work_root / case["work"], tmp_path / "work")
    arguments = ["train", "work", "-a", "plain_unet", "-f", "0", "--num-workers", "0", "--no-tta",
                 f"--{case['evaluate']}"]
    arguments += (["--epochs", "2", "--iters-per-epoch", "2", "--val-iters", "1"] if case["length"] == "epochs"
                  else ["--time-budget", "0.25"])  # a little more than the least it accepts here
    arguments += [] if case["tracker"] == "none" else ["--tracker", case["tracker"]]
    arguments += [] if case["seed"] == "default" else ["--seed", case["seed"]]
    fold = tmp_path / "work" / CONFIGURATION[case["work"]] / "fold_0"
    if case["start"] == "after_kill":
        fold.mkdir(parents=True)
        (fold / "training.lock").write_text(f"{dead_pid()}@{socket.gethostname()}\n")
        arguments.append("--resume")

    result = CliRunner().invoke(cli, arguments)

    assert result.exit_code == 0, f"covplan {shlex.join(arguments)}\n{result.output}"
    checkpoint = load_checkpoint(fold / "checkpoint_final.pth")
    assert checkpoint["settings"]["seed"] == (12345 if case["seed"] == "default" else int(case["seed"]))
    assert (checkpoint.get("budget") is not None) == (case["length"] == "time_budget")
    assert (fold / "validation" / "summary.json").is_file() == (case["evaluate"] == "evaluate")
    assert not (fold / "training.lock").exists()
    if case["start"] == "after_kill":
        assert "taking over the lock of process" in caplog.text
    if case["tracker"] == "tensorboard":
        assert any((fold / "tensorboard").glob("events.out.tfevents.*"))


# `covplan predict` of a trained tiny model, from its folder or an archive, on NIfTI or DICOM.

PREDICT_FACTORS = {
    "model": ["folder", "archive", "onnx_archive"],
    "output": ["nifti", "nifti_from_dicom", "dicom-seg", "rtstruct"],
    "folds": ["all", "0"],
    "extra": ["none", "save-probabilities", "save-uncertainty"],
    "postprocess": ["postprocess", "no-postprocess"],
}
PREDICT_CASES = all_pairs(PREDICT_FACTORS)
# Without mirroring: it multiplies each case's cost by 8 and has tests of its own
# (tests/inference); what a journey checks is how the options meet.


@pytest.fixture(scope="module")
def journey_inputs(trained_models, sphere_input, tmp_path_factory) -> dict[str, Path]:
    """The 3D model as a folder and as two archives (torch, ONNX), and one sphere image as
    NIfTI and as a DICOM series. Read them, never write."""
    root = tmp_path_factory.mktemp("journey_inputs")
    for name, extra in (("archive", []), ("onnx_archive", ["--onnx"])):
        result = CliRunner().invoke(cli, ["export", str(trained_models["3d"]), "-o", str(root / f"{name}.zip"), *extra])
        assert result.exit_code == 0, result.output
    image = sitk.ReadImage(str(sphere_input[0] / "ball_0000.nii.gz"))
    hu = np.rint(sitk.GetArrayFromImage(image) * 400 - 600).astype(np.int16)
    write_ct_series(root / "dicom" / "ball", hu, image.GetSpacing())
    return {"folder": trained_models["3d"], "archive": root / "archive.zip", "onnx_archive": root / "onnx_archive.zip",
            "nifti": sphere_input[0], "dicom": root / "dicom"}


@pytest.mark.slow
@pytest.mark.parametrize("case", PREDICT_CASES, ids=lambda case: "-".join(case.values()))
def test_predict_options_combined(case, journey_inputs, tmp_path):
    source = journey_inputs["nifti"] if case["output"] == "nifti" else journey_inputs["dicom"]
    arguments = ["predict", "-i", str(source), "-o", str(tmp_path / "out"), "-m", str(journey_inputs[case["model"]]),
                 "--no-tta", f"--{case['postprocess']}"]
    arguments += ["--backend", "onnxruntime"] if case["model"] == "onnx_archive" else []
    arguments += [] if case["folds"] == "all" else ["--folds", case["folds"]]
    arguments += [] if case["extra"] == "none" else [f"--{case['extra']}"]
    arguments += ["--output-format", case["output"]] if case["output"] in ("dicom-seg", "rtstruct") else []

    result = CliRunner().invoke(cli, arguments)

    assert result.exit_code == 0, f"covplan {shlex.join(arguments)}\n{result.output}"
    case_id = "ball"  # ball_0000.nii.gz (its channel's suffix dropped) or the series' folder
    ending = {"dicom-seg": ".seg.dcm", "rtstruct": ".rtstruct.dcm"}.get(case["output"], ".nii.gz")
    out = tmp_path / "out"
    assert (out / f"{case_id}{ending}").is_file(), sorted(path.name for path in out.iterdir())
    assert (out / f"{case_id}.npz").is_file() == (case["extra"] == "save-probabilities")
    assert (out / "uncertainty" / f"{case_id}_entropy.nii.gz").is_file() == (case["extra"] == "save-uncertainty")
    if case["extra"] == "save-uncertainty":
        assert case_id in json.loads((out / "uncertainty_summary.json").read_text()).get("cases", {case_id: 1})


# `covplan tune` of one trial on a fresh copy of the tiny 3D WORK folder.

# No time budget here: a trial's budget must cover measuring and a final validation, which
# on a busy machine takes more than the few seconds a journey can spend (tests/search and
# tests/training test the budgets).
TUNE_FACTORS = {
    "launcher": ["inline", "local"],
    "keep_models": ["best", "none"],
}
# The pair (launcher local, keep-models best) is the two-job study of tests/launch/test_jobs.py,
# which starts the same job processes; it is not run twice.
TUNE_CASES = [case for case in all_pairs(TUNE_FACTORS) if (case["launcher"], case["keep_models"]) != ("local", "best")]


@pytest.mark.slow
@pytest.mark.parametrize("case", TUNE_CASES, ids=lambda case: "-".join(case.values()))
def test_tune_options_combined(case, nnunet_work_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(nnunet_work_root / "work3d", tmp_path / "work")
    arguments = ["tune", "work", "-a", "plain_unet", "--trials", "1", "--num-workers", "0", "--no-tta",
                 "--keep-models", case["keep_models"], "--epochs", "1", "--iters-per-epoch", "2", "--val-iters", "1"]
    arguments += [] if case["launcher"] == "inline" else ["--launcher", case["launcher"], "--jobs", "1"]

    result = CliRunner().invoke(cli, arguments)

    assert result.exit_code == 0, f"covplan {shlex.join(arguments)}\n{result.output}"
    study = tmp_path / "work" / "tune" / "plain_unet"
    settings = json.loads((study / "best_settings.json").read_text())
    assert settings and (study / "trials.csv").is_file()
    kept = list(study.rglob("checkpoint_final.pth"))
    assert len(kept) == (1 if case["keep_models"] == "best" else 0), kept
