"""Built-in tracker ``mlflow``: one MLflow run per fold, the folds of one plan-and-train
as child runs of its run, in a local store ``WORK/mlflow.db`` (artifacts in
``WORK/mlartifacts``) unless ``--tracking-uri`` names another store or a server."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path

from covplan.hookspecs import hookimpl
from covplan.tracking.base import ParamValue, RunDescription, TrackedRun, TrackerPlugin

LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"
# MLflow retries a failing request for minutes by default (7 retries, doubling waits);
# a tracker must cost a run seconds when its server is down. Set only where the user
# has not set them.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
# MLflow's limits: 100 parameters per request, 6000 characters per value, and names of
# letters, digits and "_-. :/" only.
PARAMS_PER_REQUEST = 100
MAX_PARAM_LENGTH = 6000
NOT_IN_A_NAME = re.compile(r"[^\w\-. :/]")


def retries_unlogged(method: Callable) -> Callable:
    """``method`` with urllib3's warning of each retried request held back: a dead server
    was reported twice, once by urllib3 ("Retrying ... Connection refused") and once by
    the tracking session, which turns the tracker off with the reason."""
    connection_log = logging.getLogger("urllib3.connectionpool")

    @wraps(method)
    def quiet(*args, **kwargs):
        level = connection_log.level
        connection_log.setLevel(logging.ERROR)
        try:
            return method(*args, **kwargs)
        finally:
            connection_log.setLevel(level)
    return quiet


def mlflow_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in a name (``+`` of an ensemble's name) as ``_``."""
    return NOT_IN_A_NAME.sub("_", key)


class MlflowRun(TrackedRun):
    """A run in an MLflow store, written through :class:`mlflow.MlflowClient` (no global
    active run: the folds' runs never leak into a user's own ``mlflow.start_run``)."""

    def __init__(self, client, experiment_id: str, run_id: str):
        self.client, self.experiment_id, self.run_id = client, experiment_id, run_id

    @retries_unlogged
    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        from mlflow.entities import Param

        entries = [Param(mlflow_key(key), str(value)[:MAX_PARAM_LENGTH]) for key, value in params.items()]
        for start in range(0, len(entries), PARAMS_PER_REQUEST):
            self.client.log_batch(self.run_id, params=entries[start:start + PARAMS_PER_REQUEST])

    @retries_unlogged
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(mlflow_key(key), float(value), timestamp, step or 0)
                                                    for key, value in metrics.items()])

    @retries_unlogged
    def log_artifact(self, path: Path, folder: str = "") -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder or None)

    @retries_unlogged
    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


class MlflowTracker(TrackerPlugin):
    """MLflow runs: local store WORK/mlflow.db, or --tracking-uri."""

    name = "mlflow"
    requires = ("mlflow",)
    install_hint = "pip install 'covplan[mlflow]'"
    work_entries = (LOCAL_STORE, LOCAL_ARTIFACTS)

    @retries_unlogged
    def start_run(self, run: RunDescription, parent: TrackedRun | None, tracking_uri: str | None) -> TrackedRun:
        for variable, value in HTTP_SETTINGS.items():
            os.environ.setdefault(variable, value)
        from mlflow import MlflowClient

        tags = {"covplan.kind": run.kind, "covplan.folder": str(run.folder)}
        if isinstance(parent, MlflowRun):  # a fold of a plan-and-train: in its parent's store and experiment
            client, experiment_id = parent.client, parent.experiment_id
            tags["mlflow.parentRunId"] = parent.run_id
        else:
            local = tracking_uri is None
            client = MlflowClient(f"sqlite:///{Path(run.work).resolve() / LOCAL_STORE}" if local else tracking_uri)
            experiment_id = _experiment_id(client, run.experiment,
                                           (Path(run.work).resolve() / LOCAL_ARTIFACTS).as_uri() if local else None)
        created = client.create_run(experiment_id, run_name=run.name, tags=tags)
        tracked = MlflowRun(client, experiment_id, created.info.run_id)
        tracked.log_params(run.params)
        return tracked


def _experiment_id(client, name: str, artifact_location: str | None) -> str:
    """The experiment ``name``, created (with ``artifact_location``, the server's default
    when ``None``) if it is new."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:  # another fold's process created it meanwhile
        return client.get_experiment_by_name(name).experiment_id


@hookimpl
def register_trackers(register):
    register(MlflowTracker())
