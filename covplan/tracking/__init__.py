"""Experiment tracking: the trainer, plan-and-train and find-best report parameters,
per-epoch metrics and artifacts to the trackers a user selects (``--tracker``), each a
plugin; ``training_log.csv`` and ``progress.png`` are written whatever is selected."""

from covplan.tracking.base import RunDescription, TrackedRun, TrackerPlugin
from covplan.tracking.session import Tracking, open_tracking

__all__ = ["RunDescription", "TrackedRun", "TrackerPlugin", "Tracking", "open_tracking"]
