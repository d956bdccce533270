"""The contract between covplan and an experiment tracker (TensorBoard, MLflow, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from covplan.plugin_base import NamedPlugin
from covplan.registry import PluginKind, Registered

# What a parameter's value may be: trackers store them as text or numbers.
ParamValue = Union[str, int, float, bool, None]


@dataclass(frozen=True)
class RunDescription:
    """What one tracked run is: a fold's training (``kind`` ``"fold"``), a whole
    ``plan-and-train`` (``"plan-and-train"``, the folds are its children) or a
    ``find-best`` (``"find-best"``)."""

    name: str  # "plain_unet__2d fold 0"
    kind: str
    experiment: str  # the dataset's name: runs on one dataset side by side
    folder: Path  # where the run's own files are: the fold folder, else WORK
    work: Path  # the WORK folder: where a tracker keeps a local store by default
    params: dict[str, ParamValue] = field(default_factory=dict)  # flat, dotted keys ("settings.seed")


class TrackedRun(ABC):
    """One open run of one tracker. covplan calls its methods from the training process
    only, in order, and :meth:`end` exactly once; an exception from any of them turns
    the tracker off for the rest of the command (covplan warns once) and never stops
    training."""

    @abstractmethod
    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        """Parameters learned after the start, e.g. the time budget's measured throughput."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Numbers at ``step`` (the epoch; ``None`` for a run's final results). A value may be NaN
        (pseudo Dice of a class absent from the validation patches)."""

    @abstractmethod
    def log_artifact(self, path: Path, folder: str = "") -> None:
        """A file the run wrote (validation summary, progress plot, ...), kept with the
        run; under ``folder`` where a run holds files of the same name from several
        models (plan-and-train's ``cv_summary.json``)."""

    @abstractmethod
    def end(self, status: str) -> None:
        """Close the run: ``status`` is ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``
        (stopped by SIGINT/SIGTERM; ``--resume`` continues it in a new run)."""


class TrackerPlugin(NamedPlugin, ABC):
    """An experiment tracker the user selects with ``--tracker NAME``.

    covplan always writes ``training_log.csv`` and ``progress.png``; a tracker gets the
    same numbers as they are made. ``requires`` names the modules it imports (checked
    before any work starts, so a missing one is a one-line error with ``install_hint``);
    import them inside :meth:`start_run`, never at module level, so that ``covplan``
    starts without them.
    """

    requires: tuple[str, ...] = ()
    install_hint: str = ""  # "pip install 'covplan[mlflow]'"
    # The files and folders a run makes directly in WORK (its event folder, its local
    # store): `plan-and-train` starts its run before planning, so planning counts them as
    # covplan's, not as a user's files in the output folder.
    work_entries: tuple[str, ...] = ()

    @abstractmethod
    def start_run(self, run: RunDescription, parent: TrackedRun | None, tracking_uri: str | None) -> TrackedRun:
        """Open a run and record ``run.params``. ``parent`` is this tracker's open run that
        the new one belongs to (a fold of a plan-and-train), else ``None``;
        ``tracking_uri`` is ``--tracking-uri`` (``None``: the tracker's default)."""


def flatten_params(values: Mapping[str, object], prefix: str = "") -> dict[str, ParamValue]:
    """Nested dictionaries as one level of dotted keys (``plans.architecture.network_class_name``);
    lists and other values that are not scalars as their JSON text."""
    import json

    flat: dict[str, ParamValue] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        elif value is None or isinstance(value, (str, int, float, bool)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


TRACKERS: PluginKind[TrackerPlugin] = PluginKind("register_trackers", TrackerPlugin, "tracker")


def trackers() -> dict[str, Registered[TrackerPlugin]]:
    """Every registered experiment tracker by name."""
    return TRACKERS.registered()


def tracker_work_entries() -> set[str]:
    """The names every registered tracker may give its files and folders in WORK."""
    return {entry for registered in trackers().values() for entry in registered.plugin.work_entries}


def get_tracker(name: str) -> TrackerPlugin:
    """The experiment tracker registered as ``name``; the error lists the known ones."""
    return TRACKERS.get(name)
