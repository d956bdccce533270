"""Expected Dice against training steps for each time-budget candidate: what the budget rule
compares (:func:`covplan.planning.budget_candidates.choose_configuration`).

A candidate is nnU-Net's plan at its spacing (factor 1) or at a coarser one (factor 2:
``2d_x2``). Its learning curve is Domhan et al.'s "pow3" (IJCAI 2015), mean lesion Dice =
``a - b * steps ** -c``, fitted to the crossover experiment on the real COVID slices
(``benchmarks/bench_crossover.py``, docs/planning.md): a plateau ``a`` and a scale ``b``
per candidate, one exponent ``c`` for all (one network family learning the same images).
A coarser plan's plateau is held at most the finer one's: once both have converged, the
plan that sees the finer detail cannot be worse (nnU-Net's own premise, which plans the
finest spacing by default); the fit may find them equal, not invert them from a few
unconverged points. A saturating power law does not describe the first
steps, before a network segments anything: up to the largest step count the experiment
found a candidate still below :data:`ONSET_DICE` (its ``onset``), its expected Dice is 0
and those points are left out of the fit.

The fitted curves ship as ``learning_curves.json`` beside this module, written by
``benchmarks/bench_crossover.py --report --write-curves`` from the experiment's results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import curve_fit

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json

CURVES_FILE = Path(__file__).with_name("learning_curves.json")
FORMAT_VERSION = 1
# Below this mean lesion Dice a network has not begun to segment (45 steps of nnU-Net's 2d
# plan on the real slices: 0.004; 80 steps: 0.33).
ONSET_DICE = 0.05


@dataclass(frozen=True)
class CurvePoint:
    """One candidate's mean lesion Dice after ``steps`` steps, the mean of ``runs`` runs."""

    spacing_factor: float
    steps: int
    dice: float
    runs: int


@dataclass(frozen=True)
class LearningCurves:
    """Mean lesion Dice against steps per spacing factor ``f``: 0 up to ``onset[f]`` steps,
    then ``plateau[f] - scale[f] * steps ** -exponent``.

    ``spread`` is the experiment's standard deviation between runs of one cell (seeds and
    folds): two expected Dice closer than it cannot be told apart.
    """

    plateau: dict[float, float]
    scale: dict[float, float]
    exponent: float
    onset: dict[float, int]
    measured_steps: dict[float, tuple[int, int]]
    spread: float
    source: str

    def expected_dice(self, spacing_factor: float, steps: float) -> float:
        if spacing_factor not in self.plateau:
            raise CovplanError(f"no learning curve for spacing factor {spacing_factor:g} in {CURVES_FILE}; "
                               f"run benchmarks/bench_crossover.py for that candidate and --report --write-curves")
        if steps <= self.onset[spacing_factor]:
            return 0.0
        value = self.plateau[spacing_factor] - self.scale[spacing_factor] * steps ** -self.exponent
        return float(min(1.0, max(0.0, value)))

    def is_measured(self, spacing_factor: float, steps: float) -> bool:
        """Whether ``steps`` lies within the step counts the experiment trained this candidate to."""
        low, high = self.measured_steps.get(spacing_factor, (math.inf, -math.inf))
        return low <= steps <= high

    @property
    def margin(self) -> float:
        """How far ahead a coarser candidate must be expected to be to replace nnU-Net's
        plan: half the spread between runs."""
        return self.spread / 2

    def as_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION,
                "model": "mean lesion Dice = 0 up to onset steps, then plateau - scale * steps^-exponent",
                "plateau": {f"{factor:g}": round(value, 4) for factor, value in self.plateau.items()},
                "scale": {f"{factor:g}": round(value, 4) for factor, value in self.scale.items()},
                "exponent": round(self.exponent, 4),
                "onset": {f"{factor:g}": steps for factor, steps in self.onset.items()},
                "measured_steps": {f"{factor:g}": list(span) for factor, span in self.measured_steps.items()},
                "spread": round(self.spread, 4), "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearningCurves:
        return cls(plateau={float(k): float(v) for k, v in data["plateau"].items()},
                   scale={float(k): float(v) for k, v in data["scale"].items()}, exponent=float(data["exponent"]),
                   onset={float(k): int(v) for k, v in data["onset"].items()},
                   measured_steps={float(k): (int(v[0]), int(v[1])) for k, v in data["measured_steps"].items()},
                   spread=float(data["spread"]), source=str(data["source"]))


def fit_learning_curves(points: Sequence[CurvePoint], spread: float, source: str) -> LearningCurves:
    """The curves through ``points`` (a mean of n runs weighs as n runs), each candidate's
    points below :data:`ONSET_DICE` marking its onset instead. Needs two step counts past
    the onset of every candidate and more points than parameters."""
    factors = sorted({point.spacing_factor for point in points})
    onset = {factor: max((p.steps for p in points if p.spacing_factor == factor and p.dice < ONSET_DICE), default=0)
             for factor in factors}
    learning = [p for p in points if p.steps > onset[p.spacing_factor]]
    for factor in factors:
        if len({p.steps for p in learning if p.spacing_factor == factor}) < 2:
            raise CovplanError(f"the candidate at spacing factor {factor:g} has fewer than two step counts measured "
                               f"past its onset; run more cells of benchmarks/bench_crossover.py")
    if len(learning) <= 1 + 2 * len(factors):
        raise CovplanError(f"{len(learning)} points past the onsets cannot fit {1 + 2 * len(factors)} parameters; "
                           f"run more cells")
    steps = np.array([p.steps for p in learning], dtype=float)
    which = np.array([factors.index(p.spacing_factor) for p in learning])
    dice = np.array([p.dice for p in learning])
    sigma = 1 / np.sqrt(np.array([p.runs for p in learning], dtype=float))
    count = len(factors)

    def plateaus_of(finest: float, gaps: Sequence[float]) -> np.ndarray:
        """Each coarser plateau a gap (>= 0) below the next finer one."""
        return finest - np.concatenate(([0.0], np.cumsum(gaps)))

    def model(x: np.ndarray, exponent: float, finest: float, *parameters: float) -> np.ndarray:
        plateaus, scales = plateaus_of(finest, parameters[:count - 1]), np.asarray(parameters[count - 1:])
        return plateaus[which] - scales[which] * np.power(x, -exponent)

    start = (0.5, float(dice.max()), *[0.0] * (count - 1), *[1.0] * count)
    lower = (0.05, 0.0, *[0.0] * (count - 1), *[0.0] * count)
    upper = (3.0, 1.0, *[1.0] * (count - 1), *[np.inf] * count)
    parameters, _ = curve_fit(model, steps, dice, p0=start, sigma=sigma, bounds=(lower, upper), maxfev=50000)
    exponent, finest, *rest = (float(value) for value in parameters)
    plateaus = [max(0.0, float(value)) for value in plateaus_of(finest, rest[:count - 1])]
    measured = {factor: (min(p.steps for p in points if p.spacing_factor == factor),
                         max(p.steps for p in points if p.spacing_factor == factor)) for factor in factors}
    return LearningCurves(dict(zip(factors, plateaus)), dict(zip(factors, rest[count - 1:])), exponent, onset,
                          measured, spread, source)


def load_learning_curves(path: Path = CURVES_FILE) -> LearningCurves:
    data = read_json(path, "reinstall covplan, or write it with benchmarks/bench_crossover.py --report --write-curves")
    if data.get("format_version") != FORMAT_VERSION:
        raise CovplanError(f"{path} has format {data.get('format_version')}, this covplan reads {FORMAT_VERSION}; "
                           f"write it again with benchmarks/bench_crossover.py --report --write-curves")
    return LearningCurves.from_dict(data)


def save_learning_curves(curves: LearningCurves, points: Sequence[CurvePoint], path: Path = CURVES_FILE) -> None:
    """Write ``curves`` with the ``points`` they were fitted to (so the file says its evidence)."""
    write_json_atomic(path, {**curves.as_dict(), "points": [
        {"spacing_factor": p.spacing_factor, "steps": p.steps, "dice": round(p.dice, 4), "runs": p.runs}
        for p in points]})
