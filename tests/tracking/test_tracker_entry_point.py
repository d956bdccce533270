"""A tracker from a third-party distribution, found through its entry point as a user's
install finds it and selected through COVPLAN_TRACKERS, gets the calls the built-in
TensorBoard tracker gets."""

from __future__ import annotations

import csv
import json

import pytest

from tests.installed_dist import run_covplan, write_distribution

pytestmark = pytest.mark.slow

FILE_TRACKER = '''
import json
import os

import covplan
from covplan.tracking import TrackedRun


def _write(*call):
    with open(os.environ["RECORDED_CALLS"], "a") as handle:
        handle.write(json.dumps(call) + "\\n")


class FileRun(TrackedRun):
    def __init__(self, name):
        self.name = name

    def log_params(self, params):
        _write("log_params", self.name, dict(params))

    def log_metrics(self, metrics, step=None):
        _write("log_metrics", self.name, dict(metrics), step)

    def log_artifact(self, path, folder=""):
        _write("log_artifact", self.name, path.name, folder)

    def end(self, status):
        _write("end", self.name, status)


class FileTracker(covplan.TrackerPlugin):
    """Writes every call as a line of JSON to $RECORDED_CALLS."""

    name = "calls_to_file"

    def start_run(self, run, parent, tracking_uri):
        _write("start_run", run.name, run.kind, dict(run.params), parent is not None, tracking_uri)
        return FileRun(run.name)


@covplan.hookimpl
def register_trackers(register):
    register(FileTracker())
'''
EPOCHS = 2


def test_an_installed_tracker_gets_the_runs_metrics_and_files(disc_work, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    site = write_distribution(tmp_path / "site", "covplan-file-tracker", "0.2.0", "covplan_file_tracker",
                              FILE_TRACKER, "file_tracker")
    listing = json.loads(run_covplan("plugins", "--json", extra_path=site).stdout)
    assert {"name": "calls_to_file", "kind": "tracker", "description": "Writes every call as a line of JSON to "
            "$RECORDED_CALLS.", "distribution": "covplan-file-tracker", "version": "0.2.0"} in listing["plugins"]
    recorded = tmp_path / "calls.jsonl"
    result = run_covplan("train", str(disc_work), "--arch", "plain_unet", "--folds", "0", "--epochs", str(EPOCHS),
                         "--iters-per-epoch", "2", "--val-iters", "1", "--num-workers", "0", "--no-tta",
                         extra_path=site, COVPLAN_TRACKERS="calls_to_file tensorboard",
                         RECORDED_CALLS=str(recorded))
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in recorded.read_text().splitlines()]
    fold_folder = disc_work / "plain_unet__2d" / "fold_0"
    name = "plain_unet__2d fold 0"
    method, run_name, kind, params, has_parent, tracking_uri = calls[0]
    assert (method, run_name, kind, has_parent, tracking_uri) == ("start_run", name, "fold", False, None)
    assert params["architecture.name"] == "plain_unet" and params["settings.trackers"] == \
        '["calls_to_file", "tensorboard"]'
    assert calls[-1] == ["end", name, "FINISHED"]
    with open(fold_folder / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    epochs = [call for call in calls if call[0] == "log_metrics" and call[3] is not None]
    assert [call[3] for call in epochs] == list(range(EPOCHS))
    events = EventAccumulator(str(fold_folder / "tensorboard")).Reload()
    for call, row in zip(epochs, rows):
        assert sorted(call[2]) == sorted(column for column in row if column != "epoch")
        for key, value in call[2].items():
            assert value == pytest.approx(float(row[key]))
            assert events.Scalars(key)[call[3]].value == pytest.approx(value, rel=1e-5)
    assert sorted(call[2] for call in calls if call[0] == "log_artifact") == \
        ["fold_time.json", "plans.json", "progress.png", "summary.json", "training_log.csv"]
