"""covplan/training/settings_file.py: a study's best recipe as a file that train reads, and
the one-line errors for files it cannot use."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.training import TrainingSettings
from covplan.training.settings_file import read_settings_file, write_settings_file


def test_the_recipe_round_trips_and_leaves_the_machine_settings_alone(tmp_path):
    path = tmp_path / "best_settings.json"
    written = TrainingSettings(initial_lr=3e-3, loss="tversky_ce", batch_size=3, architecture_params={"width": 16},
                               device="cuda", trackers=("mlflow",), on_epoch_end=print)
    write_settings_file(path, "plain_unet", "2d", written, trial=7)
    content = json.loads(path.read_text())
    assert (content["architecture"], content["configuration"], content["trial"]) == ("plain_unet", "2d", 7)
    assert "device" not in content["settings"] and "on_epoch_end" not in content["settings"]
    read = read_settings_file(path).apply(TrainingSettings(device="cpu", initial_lr=1.0), keep={"initial_lr"})
    assert (read.loss, read.batch_size, read.architecture_params) == ("tversky_ce", 3, {"width": 16})
    assert (read.initial_lr, read.device) == (1.0, "cpu")


def test_a_file_with_unknown_settings_is_refused_naming_them(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"architecture": "plain_unet", "configuration": "2d", "settings": {"lr": 0.1}}))
    with pytest.raises(CovplanError, match=rf"^{path}: unknown setting\(s\) lr; known: num_epochs, "):
        read_settings_file(path)


def test_train_refuses_the_settings_of_another_architecture(tmp_path):
    path = tmp_path / "settings.json"
    write_settings_file(path, "resenc_unet", "2d", TrainingSettings())
    (tmp_path / "work").mkdir()
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "work"), "-a", "plain_unet", "-f", "0",
                                      "--settings", str(path)])
    assert result.exit_code == 1
    assert result.output == (f"Error: {path} holds the settings of architecture 'resenc_unet'; train it with "
                             f"-a resenc_unet\n")
