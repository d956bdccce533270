"""``--tracker mlflow`` against a real MLflow tracking server on localhost: a
plan-and-train is one run with a child run per fold, read back with MlflowClient; a
dead server leaves training and its log whole."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from covplan import __version__
from covplan.evaluation.find_best import find_best
from covplan.tracking import open_tracking
from covplan.training import TrainingSettings, train_fold
from covplan.workflows.plan_and_train import plan_and_train
from tests.work_folders import TINY_TRAINING

pytestmark = pytest.mark.slow

EPOCHS = 2
SERVER_START_S = 180  # the server imports MLflow and creates its tables: half a minute on two busy cores
TINY = dict(num_epochs=EPOCHS, iterations_per_epoch=1, validation_iterations=1, num_workers=0,
            test_time_mirroring=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` with a sqlite store in a temporary folder, on a free port."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _healthy(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "server.log").read_text()[-500:]
                pytest.skip(f"mlflow server did not start on port {port} within {SERVER_START_S} s: {tail}")
            time.sleep(1)
        yield uri
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and its uvicorn workers
            server.wait(timeout=30)
        log.close()


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _csv_rows(fold_folder: Path) -> list[dict[str, str]]:
    with open(fold_folder / "training_log.csv") as handle:
        return list(csv.DictReader(handle))


def test_plan_and_train_is_a_parent_run_with_a_child_per_fold(mlflow_server, raw_2d, tmp_path):
    from mlflow import MlflowClient

    work = tmp_path / "work"
    settings = TrainingSettings(**TINY, trackers=("mlflow",), tracking_uri=mlflow_server)
    summaries = plan_and_train(raw_2d, work, ["plain_unet"], folds=[0, 1], settings=settings, num_processes=1)
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name(raw_2d.name)
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if run.data.tags["covplan.kind"] == "plan-and-train"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = sorted((run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda run: run.info.run_name)
    assert [run.info.run_name for run in children] == ["plain_unet__2d fold 0", "plain_unet__2d fold 1"]
    for fold, child in enumerate(children):
        fold_folder = work / "plain_unet__2d" / f"fold_{fold}"
        rows = _csv_rows(fold_folder)
        assert child.info.status == "FINISHED"
        for column in ("train_loss", "val_loss", "lr", "epoch_time_s", "memory_mb"):
            history = client.get_metric_history(child.info.run_id, column)
            assert [(metric.step, metric.value) for metric in sorted(history, key=lambda m: m.step)] == \
                [(int(row["epoch"]), pytest.approx(float(row[column]))) for row in rows], column
        params = child.data.params
        assert (params["architecture.name"], params["architecture.version"]) == ("plain_unet", __version__)
        assert params["loss.name"] == "dice_ce" and params["settings.num_epochs"] == str(EPOCHS)
        assert json.loads(params["plans.patch_size"]) == json.loads((work / "plans_plain_unet.json").read_text())[
            "configurations"]["2d"]["patch_size"]
        fingerprint = json.loads((work / "dataset_fingerprint.json").read_text())
        assert params["fingerprint.cases"] == str(len(fingerprint["spacings"]))
        artifacts = {entry.path for entry in client.list_artifacts(child.info.run_id)}
        assert {"plans.json", "training_log.csv", "progress.png", "summary.json", "fold_time.json"} <= artifacts
    cv_mean = summaries["plain_unet__2d"]["mean"]
    logged = {key: value for key, value in parent.data.metrics.items() if key.startswith("plain_unet__2d/")}
    assert logged == {f"plain_unet__2d/cv_dice_{name}": pytest.approx(value)
                      for name, value in cv_mean.items() if value is not None}
    assert [entry.path for entry in client.list_artifacts(parent.info.run_id, "plain_unet__2d")] == \
        ["plain_unet__2d/cv_summary.json"]

    result = find_best(work, num_processes=1, tracking=open_tracking(["mlflow"], mlflow_server))
    best_runs = client.search_runs([experiment.experiment_id], "tags.`covplan.kind` = 'find-best'")
    assert len(best_runs) == 1 and best_runs[0].data.params["best"] == result["best"] == "plain_unet__2d"
    assert best_runs[0].data.metrics["plain_unet__2d/cv_dice_foreground"] == \
        pytest.approx(result["ranking"][0]["foreground_dice"])
    assert {entry.path for entry in client.list_artifacts(best_runs[0].info.run_id)} == \
        {"find_best.json", "postprocessing.json"}


def test_a_dead_server_leaves_training_and_its_log_whole(disc_work, caplog):
    settings = TrainingSettings(**{**TINY_TRAINING, "num_epochs": EPOCHS}, trackers=("mlflow", "tensorboard"),
                                tracking_uri=f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with caplog.at_level(logging.WARNING):
        summary = train_fold(disc_work, "plain_unet", 0, settings=settings)
    fold_folder = disc_work / "plain_unet__2d" / "fold_0"
    assert summary["mean"][1]["Dice"] is not None
    assert [int(row["epoch"]) for row in _csv_rows(fold_folder)] == list(range(EPOCHS))
    assert (fold_folder / "checkpoint_final.pth").is_file()
    # Once: urllib3's warning of the retried request is held back.
    warnings = [record.getMessage() for record in caplog.records if "127.0.0.1" in record.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("tracker 'mlflow' failed and is off for the rest of this")
    assert "127.0.0.1" in warnings[0]
    assert any(path.name.startswith("events.out.tfevents") for path in (fold_folder / "tensorboard").iterdir())
