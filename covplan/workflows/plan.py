"""``covplan plan``: plan a raw dataset, and preprocess what was planned (with a time budget,
plan, preprocess and measure: :func:`covplan.workflows.fit_budget.plan_for_budget`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covplan.planning import plan_dataset
from covplan.preprocessing import preprocess
from covplan.workflows.fit_budget import plan_for_budget
from covplan.workflows.init_from import open_source_model


@dataclass(frozen=True)
class PlanningResult:
    """The plans file of each architecture, and each preprocessed data folder by identifier."""

    plans_files: dict[str, Path]
    preprocessed: dict[str, Path] = field(default_factory=dict)


def plan_and_preprocess(dataset_dir: Path, work_dir: Path, architectures: Sequence[str],
                        then_preprocess: bool = False, time_budget_s: float | None = None, device: str = "auto",
                        num_processes: int = 2, init_from: Path | None = None, **planning: Any) -> PlanningResult:
    """Plan ``dataset_dir`` into ``work_dir`` (``planning`` goes to
    :func:`covplan.planning.plan_dataset`) and, with ``then_preprocess``, preprocess the
    planned configurations. With ``time_budget_s`` the plans are fitted to that many
    seconds per fold, which preprocesses them anyway (the measurement trains on the data).
    With ``init_from`` (a model folder or an archive of one model) the plans are that
    model's, moved to the dataset; no architectures given: the source's."""
    if init_from is not None:
        source = open_source_model(init_from, work_dir)
        architectures = list(architectures) or [source.architecture]
        planning["init_from"] = source
    if time_budget_s is not None:
        return PlanningResult(plan_for_budget(dataset_dir, work_dir, architectures, time_budget_s, device=device,
                                              num_processes=num_processes, **planning))
    written = plan_dataset(dataset_dir, work_dir, architectures, num_processes=num_processes, **planning)
    if not then_preprocess:
        return PlanningResult(written)
    return PlanningResult(written, preprocess(work_dir, architectures, planning.get("configurations"), num_processes))
