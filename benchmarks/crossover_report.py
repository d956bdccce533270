"""The crossover experiment's report (``bench_crossover.py --report``): from the results file
alone, Dice against training steps per candidate plan, learning curves fitted to them, where
the curves cross in minutes on the recorded step times, a plot and a markdown block for
docs/planning.md.

The learning curve is Domhan et al.'s "pow3", ``Dice = a - b * steps ** -c`` (IJCAI 2015,
"Speeding up automatic hyperparameter optimization of deep neural networks by extrapolation
of learning curves"; Hestness et al. 2017 found error falling as a power law of training in
every domain they measured): three parameters, monotone and saturating, which is what a
segmentation network's validation Dice does under a schedule fitted to the steps. It needs
more points than parameters, so a candidate with fewer than :data:`MIN_POWER_LAW_STEPS`
distinct step counts (or whose fit does not converge) gets a monotone cubic interpolation of
its means in log steps instead (scipy's PCHIP: it keeps the points' order and never
overshoots). Neither curve is used outside the steps measured: a crossover is only reported
where both candidates were measured at those minutes.
"""

from __future__ import annotations

import datetime
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import curve_fit

from covplan.atomic import save_figure_atomic
from covplan.errors import CovplanError
from covplan.planning.budget_candidates import spacing_factor
from covplan.planning.learning_curves import CurvePoint, LearningCurves, fit_learning_curves, save_learning_curves

CLASSES = ("ggo", "consolidation", "infection")
MIN_POWER_LAW_STEPS = 4
GRID_POINTS = 400


@dataclass(frozen=True)
class Point:
    """Dice of one candidate at one step count: the cells measured there, or one entry
    aggregated in the docs (only its mean, spread and number of runs are known)."""

    candidate: str
    steps: int
    mean: Mapping[str, float | None]
    spread: Mapping[str, float | None]
    runs: int
    aggregated: bool = False


@dataclass(frozen=True)
class Curve:
    """Dice against steps, fitted to one candidate's points of one class, valid from
    ``low`` to ``high`` steps (the measured ones)."""

    kind: str  # "power law" or "interpolation" (monotone cubic in log steps)
    low: float
    high: float
    function: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    parameters: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, steps: np.ndarray) -> np.ndarray:
        return np.clip(self.function(np.asarray(steps, dtype=float)), 0.0, 1.0)

    def describe(self) -> str:
        if self.kind == "power law":
            p = self.parameters
            return f"Dice = {p['a']:.3f} - {p['b']:.3g} x steps^-{p['c']:.3g}"
        return f"monotone interpolation in log steps ({self.low:g} to {self.high:g} steps)"


def power_law(steps: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(steps, -c)


def points_of(cells: Sequence[Mapping[str, Any]]) -> list[Point]:
    """One point per candidate and step count of the measured cells, and one per entry
    aggregated in the docs (kept apart: its runs cannot be pooled with single cells)."""
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    points = []
    for cell in cells:
        if cell.get("aggregated"):
            aggregated = cell["aggregated"]
            points.append(Point(cell["candidate"], cell["steps"], cell["dice"], aggregated["spread"],
                                aggregated["runs"], aggregated=True))
        else:
            groups.setdefault((cell["candidate"], cell["steps"]), []).append(cell)
    for (candidate, steps), group in groups.items():
        mean, spread = {}, {}
        for name in CLASSES:
            values = [cell["dice"].get(name) for cell in group]
            values = [value for value in values if value is not None and not math.isnan(value)]
            mean[name] = statistics.mean(values) if values else None
            spread[name] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        points.append(Point(candidate, steps, mean, spread, len(group)))
    return sorted(points, key=lambda point: (point.candidate, point.steps, point.aggregated))


def seconds_per_step(cells: Sequence[Mapping[str, Any]], given: Mapping[str, float] | None = None
                     ) -> dict[str, float]:
    """Each candidate's step time: ``given``, else the fastest of its entries (the least
    disturbed by other load, as ``common.best`` takes a timing; a cell of few steps pays
    its start-up, so a long cell sets it)."""
    found: dict[str, float] = {}
    for cell in cells:
        found[cell["candidate"]] = min(found.get(cell["candidate"], math.inf), cell["seconds_per_step"])
    return {**found, **(given or {})}


def fit_curve(points: Sequence[Point], class_name: str) -> Curve | None:
    """The learning curve of one candidate's ``points`` for ``class_name`` (see the module's
    docstring); None with fewer than two step counts with a Dice."""
    by_steps: dict[int, list[tuple[float, int]]] = {}
    for point in points:
        if point.mean.get(class_name) is not None:
            by_steps.setdefault(point.steps, []).append((point.mean[class_name], point.runs))
    if len(by_steps) < 2:
        return None
    steps = np.array(sorted(by_steps), dtype=float)
    means = np.array([sum(m * n for m, n in by_steps[s]) / sum(n for _, n in by_steps[s]) for s in sorted(by_steps)])
    runs = np.array([sum(n for _, n in by_steps[s]) for s in sorted(by_steps)], dtype=float)
    if len(steps) >= MIN_POWER_LAW_STEPS:
        try:
            # A mean of n runs is weighted as n runs: sigma 1 / sqrt(n).
            parameters, _ = curve_fit(power_law, steps, means, p0=(float(means.max()), 1.0, 0.5),
                                      sigma=1 / np.sqrt(runs), bounds=([0.0, 0.0, 0.01], [1.0, np.inf, 3.0]),
                                      maxfev=20000)
            a, b, c = (float(value) for value in parameters)
            return Curve("power law", steps[0], steps[-1], lambda s: power_law(s, a, b, c), {"a": a, "b": b, "c": c})
        except (RuntimeError, ValueError):
            pass  # then the interpolation below
    interpolation = PchipInterpolator(np.log(steps), means, extrapolate=False)
    return Curve("interpolation", steps[0], steps[-1], lambda s: interpolation(np.log(s)))


@dataclass(frozen=True)
class Crossover:
    """Where ``first``'s and ``second``'s curves cross, in minutes, within the minutes both
    were measured at (``low`` to ``high``); ``ahead_at_low``: which leads at ``low``."""

    first: str
    second: str
    minutes: tuple[float, ...]
    low: float
    high: float
    ahead_at_low: str

    def describe(self) -> str:
        if self.low >= self.high:
            return "no minutes measured for both"
        span = f"{self.low:.3g} to {self.high:.3g} min"
        if not self.minutes:
            return f"not within the measured range ({self.ahead_at_low} ahead from {span})"
        return (f"{', '.join(f'{m:.3g}' for m in self.minutes)} min ({self.ahead_at_low} ahead below; "
                f"measured {span})")


def find_crossover(first: str, first_curve: Curve, first_s: float, second: str, second_curve: Curve,
                   second_s: float) -> Crossover:
    """Where the two curves, put on minutes by each candidate's seconds per step, cross
    (linear interpolation of their difference on a log grid of minutes)."""
    low = max(first_curve.low * first_s, second_curve.low * second_s) / 60
    high = min(first_curve.high * first_s, second_curve.high * second_s) / 60
    if low >= high:
        return Crossover(first, second, (), low, high, "")
    minutes = np.geomspace(low, high, GRID_POINTS)
    difference = first_curve(minutes * 60 / first_s) - second_curve(minutes * 60 / second_s)
    crossings = []
    for i in np.nonzero(np.sign(difference[:-1]) * np.sign(difference[1:]) < 0)[0]:
        share = difference[i] / (difference[i] - difference[i + 1])
        crossings.append(float(minutes[i] + share * (minutes[i + 1] - minutes[i])))
    return Crossover(first, second, tuple(crossings), float(low), float(high),
                     first if difference[0] > 0 else second)


def report(cells: Sequence[Mapping[str, Any]], image: Path, image_link: str,
           given_seconds: Mapping[str, float] | None = None) -> str:
    """The markdown block for docs/planning.md; writes the plot to ``image`` (linked from
    the block as ``image_link``)."""
    points = points_of(cells)
    step_s = seconds_per_step(cells, given_seconds)
    candidates = list(dict.fromkeys(point.candidate for point in points))
    curves = {(candidate, name): fit_curve([p for p in points if p.candidate == candidate], name)
              for candidate in candidates for name in CLASSES}
    title = (f"#### Dice against training steps per candidate ({datetime.date.today().isoformat()}, "
             f"`benchmarks/bench_crossover.py --report`)")
    lines = [title, "", *_provenance(cells, step_s), ""]
    for candidate in candidates:
        lines += [f"`{candidate}` ({_plans(cells, candidate)}; {step_s[candidate]:.3g} s a step):", "",
                  "| steps | minutes | runs | " + " | ".join(f"Dice {name}" for name in CLASSES) + " |",
                  "|---|---|---|" + "---|" * len(CLASSES)]
        for point in (p for p in points if p.candidate == candidate):
            cells_text = " | ".join(_mean_spread(point.mean.get(n), point.spread.get(n)) for n in CLASSES)
            mark = " (docs, aggregated)" if point.aggregated else ""
            lines.append(f"| {point.steps}{mark} | {point.steps * step_s[candidate] / 60:.3g} | {point.runs} | "
                         f"{cells_text} |")
        lines.append("")
    lines += ["Learning curves (mean Dice against steps; see `benchmarks/crossover_report.py` for the model):", "",
              "| candidate | class | curve |", "|---|---|---|"]
    lines += [f"| `{candidate}` | {name} | {curve.describe() if curve else 'fewer than two step counts'} |"
              for (candidate, name), curve in curves.items()]
    lines += ["", "Where the curves cross, in minutes on the step times above:", "",
              "| class | " + " | ".join(f"`{a}` vs `{b}`" for a, b in _pairs(candidates)) + " |",
              "|---|" + "---|" * len(_pairs(candidates))]
    for name in CLASSES:
        row = []
        for a, b in _pairs(candidates):
            if curves[a, name] is None or curves[b, name] is None:
                row.append("too few points")
            else:
                row.append(find_crossover(a, curves[a, name], step_s[a], b, curves[b, name], step_s[b]).describe())
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    rule_curves = None
    try:
        rule_curves = fit_learning_curves(curve_points(cells), between_run_spread(cells), "report")
    except (CovplanError, ValueError) as error:
        lines += ["", f"The budget rule's curves (mean lesion Dice): not fitted ({error})."]
    if rule_curves is not None:
        lines += ["", "The budget rule's curves (mean lesion Dice over the classes, one exponent, a plateau and a "
                      "scale per candidate; `--write-curves` writes them):", "",
                  "| candidate | onset (steps) | curve | measured steps |", "|---|---|---|---|"]
        for candidate in candidates:
            factor = spacing_factor(candidate)
            lines.append(f"| `{candidate}` | {rule_curves.onset[factor]} | {rule_curves.plateau[factor]:.3f} - "
                         f"{rule_curves.scale[factor]:.3g} x steps^-{rule_curves.exponent:.3g} | "
                         f"{rule_curves.measured_steps[factor][0]} to {rule_curves.measured_steps[factor][1]} |")
        lines.append(f"\nSpread between runs of one cell (pooled standard deviation): {rule_curves.spread:.3f}; "
                     f"the rule's margin: {rule_curves.margin:.3f}.")
    plot(points, curves, step_s, image, rule_curves)
    lines += ["", f"![Dice against minutes per candidate]({image_link})", ""]
    return "\n".join(lines)


def mean_lesion_dice(dice: Mapping[str, float | None]) -> float | None:
    """What the budget rule compares: the mean over the classes of one cell's Dice."""
    values = [dice.get(name) for name in CLASSES]
    if any(value is None or math.isnan(value) for value in values):
        return None
    return statistics.mean(values)


def curve_points(cells: Sequence[Mapping[str, Any]]) -> list[CurvePoint]:
    """Each candidate's mean lesion Dice per step count: the measured cells pooled, and
    each entry aggregated in the docs as the mean of its runs."""
    groups: dict[tuple[float, int], list[tuple[float, int]]] = {}
    for cell in cells:
        dice = mean_lesion_dice(cell["dice"])
        if dice is not None:
            runs = cell["aggregated"]["runs"] if cell.get("aggregated") else 1
            groups.setdefault((spacing_factor(cell["candidate"]), cell["steps"]), []).append((dice, runs))
    return [CurvePoint(factor, steps, sum(d * n for d, n in values) / sum(n for _, n in values),
                       sum(n for _, n in values)) for (factor, steps), values in sorted(groups.items())]


def between_run_spread(cells: Sequence[Mapping[str, Any]]) -> float:
    """The pooled standard deviation between runs of one cell (same candidate and steps)
    of the mean lesion Dice. An entry aggregated in the docs gives only its classes'
    spreads: their mean stands in for its mean's (no smaller, as the classes of a run
    move together)."""
    squares, degrees = 0.0, 0
    groups: dict[tuple[str, int], list[float]] = {}
    for cell in cells:
        if cell.get("aggregated"):
            spreads = [value for value in cell["aggregated"]["spread"].values() if value is not None]
            runs = cell["aggregated"]["runs"]
            squares += (runs - 1) * statistics.mean(spreads) ** 2
            degrees += runs - 1
        elif (dice := mean_lesion_dice(cell["dice"])) is not None:
            groups.setdefault((cell["candidate"], cell["steps"]), []).append(dice)
    for values in groups.values():
        if len(values) > 1:
            squares += (len(values) - 1) * statistics.variance(values)
            degrees += len(values) - 1
    if degrees == 0:
        raise ValueError("no cell was run more than once: the spread between runs is unknown; run a second seed")
    return math.sqrt(squares / degrees)


def write_curves(cells: Sequence[Mapping[str, Any]], path: Path, source: str) -> LearningCurves:
    """Fit the budget rule's learning curves to ``cells`` and write them to ``path``."""
    points = curve_points(cells)
    curves = fit_learning_curves(points, between_run_spread(cells), source)
    save_learning_curves(curves, points, path)
    return curves


def _pairs(candidates: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(candidates) for b in candidates[i + 1:]]


def _provenance(cells: Sequence[Mapping[str, Any]], step_s: Mapping[str, float]) -> list[str]:
    measured = [cell for cell in cells if not cell.get("aggregated")]
    docs = [cell for cell in cells if cell.get("aggregated")]
    lines = [f"- cells: {len(measured)} trained by the benchmark"]
    if docs:
        origins = ", ".join(sorted({cell["origin"] for cell in docs}))
        lines[0] += f", {len(docs)} aggregated entries from the docs ({origins})"
    if measured:
        dates = sorted(cell["date"][:10] for cell in measured)
        lines += [f"- machines: {'; '.join(sorted({cell['machine'] for cell in measured}))}",
                  f"- dates: {dates[0]} to {dates[-1]}; commits {', '.join(sorted({c['commit'] for c in measured}))}"]
    lines.append("- minutes: steps x the candidate's seconds per step (unless given, the fastest of its entries: "
                 "training seconds per step, per-epoch validation and checkpoints included): "
                 + ", ".join(f"`{c}` {s:.3g} s" for c, s in step_s.items()))
    lines.append("- Dice: mean +- standard deviation over seeds and folds of the fold's mean over its validation "
                 "slices, predicted without mirroring")
    return lines


def _plans(cells: Sequence[Mapping[str, Any]], candidate: str) -> str:
    plans = sorted({cell["plan"] for cell in cells if cell["candidate"] == candidate})
    return plans[0] if len(plans) == 1 else "PLANS DIFFER between cells: " + " / ".join(plans)


def _mean_spread(mean: float | None, spread: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f} +- {spread:.3f}" if spread is not None else f"{mean:.3f}"


def plot(points: Sequence[Point], curves: Mapping[tuple[str, str], Curve | None], step_s: Mapping[str, float],
         path: Path, rule_curves: LearningCurves | None = None) -> None:
    """Dice against minutes, one panel per class: each candidate's points (mean and
    spread; hollow for entries aggregated in the docs) and its curve over its measured
    steps; with ``rule_curves`` a last panel of the mean lesion Dice and the budget rule's
    curves (dashed where extrapolated, to twice the steps measured)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib import ticker

    panels = len(CLASSES) + (rule_curves is not None)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), sharey=True)
    candidates = list(dict.fromkeys(point.candidate for point in points))
    if rule_curves is not None:
        _plot_rule_curves(axes[-1], points, candidates, rule_curves, step_s)
    for axis, name in zip(axes, CLASSES):
        for index, candidate in enumerate(candidates):
            colour = f"C{index}"
            for point in (p for p in points if p.candidate == candidate and p.mean.get(name) is not None):
                axis.errorbar(point.steps * step_s[candidate] / 60, point.mean[name], yerr=point.spread.get(name) or 0,
                              fmt="o", color=colour, mfc="none" if point.aggregated else colour, capsize=3)
            curve = curves.get((candidate, name))
            if curve is not None:
                steps = np.geomspace(curve.low, curve.high, 200)
                axis.plot(steps * step_s[candidate] / 60, curve(steps), color=colour, label=candidate)
            else:
                axis.plot([], [], color=colour, label=candidate)
        axis.set_title(f"Dice {name}")
    for axis in axes:
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_xlabel("minutes of training steps")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("Dice (fold validation)")
    axes[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(figure, path)


def _plot_rule_curves(axis: Any, points: Sequence[Point], candidates: Sequence[str], curves: LearningCurves,
                      step_s: Mapping[str, float]) -> None:
    for index, candidate in enumerate(candidates):
        colour, factor = f"C{index}", spacing_factor(candidate)
        for point in (p for p in points if p.candidate == candidate):
            dice = mean_lesion_dice(point.mean)
            if dice is not None:
                axis.plot(point.steps * step_s[candidate] / 60, dice, "o", color=colour,
                          mfc="none" if point.aggregated else colour)
        low, high = curves.measured_steps[factor]
        start = max(low, curves.onset[factor] + 1)
        for span, style in (((start, high), "-"), ((high, 2 * high), "--")):
            steps = np.geomspace(*span, 100)
            dice = [curves.expected_dice(factor, n) for n in steps]
            axis.plot(steps * step_s[candidate] / 60, dice, style, color=colour,
                      label=candidate if style == "-" else None)
    axis.set_title("mean lesion Dice: the budget rule's curves")
    axis.legend()
