"""Planning: per-architecture nnU-Net v2 plans, presets and patient-grouped folds."""

from covplan.planning.plan import plan_dataset
from covplan.planning.presets import Preset, get_preset, presets
from covplan.planning.splits import patient_grouped_splits

__all__ = ["Preset", "get_preset", "patient_grouped_splits", "plan_dataset", "presets"]
