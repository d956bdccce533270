"""Reading model archives for predict: an archive zipped again by hand, an archive without
ONNX for --backend onnxruntime, and the scratch folder a killed run leaves."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import zipfile
from pathlib import Path

import pytest

from covplan.errors import CovplanError
from covplan.export import export_archive
from covplan.inference import PredictionSettings, predict
from covplan.inference.archive_reader import MANIFEST_FILE, unpacked_archive
from tests.processes import dead_pid


def _archive(path: Path, files: dict[str, bytes], folders: list[str] = ()) -> Path:
    """A minimal archive of one model folder ``m`` listing ``files``, with folder entries as `zip -r` writes them."""
    model = {"folder": "m", "architecture": "plain_unet", "checkpoint": "checkpoint_final.pth"}
    manifest = {"format_version": 1, "models": [model], "files": {name: hashlib.sha256(data).hexdigest()
                                                                for name, data in files.items()}}
    with zipfile.ZipFile(path, "w") as archive:
        for folder in folders:
            archive.writestr(zipfile.ZipInfo(folder), b"")
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(MANIFEST_FILE, json.dumps(manifest))
    return path


def test_folder_entries_of_an_archive_zipped_again_are_no_damage(tmp_path):
    path = _archive(tmp_path / "model.zip", {"m/plans.json": b"{}", "m/fold_0/x.pth": b"w"}, ["m/", "m/fold_0/"])
    with unpacked_archive(path) as models:
        assert [model.folder.name for model in models] == ["m"]
        assert (models[0].folder / "fold_0" / "x.pth").read_bytes() == b"w"


def test_an_archive_without_onnx_names_itself_and_the_export_for_onnxruntime(trained_models, sphere_input, tmp_path):
    archive = tmp_path / "spheres.zip"
    export_archive([trained_models["3d"]], archive, folds=[0])
    folder = trained_models["3d"].name
    with pytest.raises(CovplanError, match=rf"^{archive}: model {folder} was exported without --onnx, so --backend "
                                           rf"onnxruntime has no network to run; export it again with `covplan "
                                           rf"export WORK/{folder} --onnx -o spheres.zip` \(with this archive only: "
                                           rf"`covplan import {archive} DIR`, then .*\), or predict with --backend "
                                           rf"torch$"):
        predict(sphere_input[0], tmp_path / "out", [archive], PredictionSettings(backend="onnxruntime"))


def test_the_unpacked_archive_a_killed_run_left_is_removed_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    host = socket.gethostname()
    killed = tmp_path / f"covplan-archive-{host}-{dead_pid()}-k3j2"
    running = tmp_path / f"covplan-archive-{host}-{os.getpid()}-a1b2"
    elsewhere = tmp_path / f"covplan-archive-other.host-{dead_pid()}-c3d4"
    for folder in (killed, running, elsewhere):
        (folder / "m").mkdir(parents=True)
    with unpacked_archive(_archive(tmp_path / "model.zip", {"m/plans.json": b"{}"})):
        assert not killed.exists()
    assert running.is_dir() and elsewhere.is_dir()
    assert {path.name for path in tmp_path.iterdir()} == {running.name, elsewhere.name, "model.zip"}
