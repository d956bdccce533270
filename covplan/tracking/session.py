"""The trackers a command reports to, each isolated: one that fails is warned about once
and turned off, and the command goes on as if it had never been selected."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

from covplan.errors import CovplanError
from covplan.tracking.base import ParamValue, RunDescription, TrackedRun, TrackerPlugin, get_tracker

logger = logging.getLogger(__name__)

# The environment variable that selects trackers when no --tracker is given
# (whitespace-separated names), as click reads it for the repeatable option.
TRACKERS_ENV = "COVPLAN_TRACKERS"


class Tracking:
    """Runs of every selected tracker, opened and closed together. A run started while
    another is open is its child (the folds of a plan-and-train). Every call goes to
    the innermost open run of each tracker still on."""

    def __init__(self, trackers: Sequence[TrackerPlugin] = (), tracking_uri: str | None = None):
        self.trackers = {tracker.name: tracker for tracker in trackers}
        self.tracking_uri = tracking_uri
        self._open: dict[str, list[TrackedRun]] = {name: [] for name in self.trackers}

    @contextmanager
    def run(self, description: RunDescription) -> Iterator[None]:
        """Start a run of each tracker for the body; it ends FINISHED, or KILLED when the
        body was interrupted (SIGINT, SIGTERM), or FAILED on any other exception."""
        for name, tracker in list(self.trackers.items()):
            parent = self._open[name][-1] if self._open[name] else None
            self._isolated(name, lambda: self._open[name].append(
                tracker.start_run(description, parent, self.tracking_uri)))
        status = "FINISHED"
        try:
            yield
        except BaseException as error:  # KeyboardInterrupt and covplan's Interrupted are no Exception
            status = "FAILED" if isinstance(error, Exception) else "KILLED"
            raise
        finally:
            for name in list(self.trackers):
                if self._open[name]:
                    self._isolated(name, lambda: self._open[name].pop().end(status))

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        self._each_open_run(lambda run: run.log_params(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._each_open_run(lambda run: run.log_metrics(metrics, step))

    def log_artifacts(self, paths: Iterable[Path], folder: str = "") -> None:
        """The files of ``paths`` that exist (a fold without evaluation has no summary)."""
        existing = [Path(path) for path in paths if Path(path).is_file()]
        self._each_open_run(lambda run: [run.log_artifact(path, folder) for path in existing])

    def _each_open_run(self, action: Callable[[TrackedRun], Any]) -> None:
        for name in list(self.trackers):
            if self._open[name]:
                self._isolated(name, lambda: action(self._open[name][-1]))

    def _isolated(self, name: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as error:  # a tracker's failure must never stop or slow training
            del self.trackers[name]
            logger.warning("tracker '%s' failed and is off for the rest of this command (%s: %s); training goes on "
                           "and training_log.csv keeps every epoch", name, type(error).__name__, error)


def open_tracking(names: Sequence[str], tracking_uri: str | None = None) -> Tracking:
    """A :class:`Tracking` over the trackers registered as ``names``. An unknown name or
    a tracker whose packages are missing is refused here, before any work starts."""
    trackers = [get_tracker(name) for name in dict.fromkeys(names)]
    for tracker in trackers:
        missing = [module for module in tracker.requires if find_spec(module) is None]
        if missing:
            raise CovplanError(f"tracker '{tracker.name}' needs {', '.join(missing)}, which is not installed; "
                               f"{tracker.install_hint or 'install it'}")
    return Tracking(trackers, tracking_uri)
