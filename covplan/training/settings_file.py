"""A settings file: the training recipe of one architecture and configuration as JSON,
which ``covplan tune`` writes for its best trial and ``covplan train`` and
``plan-and-train`` take with ``--settings FILE``.

Only the values that describe the recipe are kept (:data:`RECIPE_FIELDS`); the device,
worker processes and trackers belong to the machine and the command that trains it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.training.settings import TrainingSettings

SETTINGS_FORMAT_VERSION = 1
RECIPE_FIELDS = ("num_epochs", "iterations_per_epoch", "validation_iterations", "time_budget_s", "loss",
                 "initial_lr", "augmentation", "oversample_foreground_percent", "seed", "batch_size",
                 "architecture_params")


@dataclass(frozen=True)
class SettingsFile:
    """What a settings file says: the model it trains and the recipe's values."""

    path: Path
    architecture: str
    configuration: str
    values: dict[str, Any]

    def apply(self, settings: TrainingSettings, keep: set[str] = frozenset()) -> TrainingSettings:
        """``settings`` with the file's values, except the fields named in ``keep`` (those
        the command line gave)."""
        return replace(settings, **{name: value for name, value in self.values.items() if name not in keep})


def write_settings_file(path: Path, architecture: str, configuration: str, settings: TrainingSettings,
                        **about: Any) -> None:
    """Write the recipe of ``settings`` for ``architecture`` and ``configuration``; ``about``
    (where it came from: trial, value) is kept beside it for the reader."""
    record = settings.record()
    write_json_atomic(Path(path), {"format_version": SETTINGS_FORMAT_VERSION, "architecture": architecture,
                                   "configuration": configuration,
                                   "settings": {name: record[name] for name in RECIPE_FIELDS}, **about})


def read_settings_file(path: Path) -> SettingsFile:
    """The settings file at ``path``; a damaged one, or one with values the trainer does not
    know, raises a one-line :class:`CovplanError` naming it."""
    fix = "give a file `covplan tune` wrote (WORK/tune/STUDY/best_settings.json)"
    content = read_json(Path(path), fix)
    values = content.get("settings")
    if not isinstance(values, dict) or "architecture" not in content or "configuration" not in content:
        raise CovplanError(f"{path} has no architecture, configuration and settings; {fix}")
    unknown = sorted(set(values) - set(RECIPE_FIELDS))
    if unknown:
        raise CovplanError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(RECIPE_FIELDS)}")
    return SettingsFile(Path(path), content["architecture"], content["configuration"], values)
