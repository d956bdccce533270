"""Statistics of two models scored on the same cases: the mean of the per-case differences
with a paired bootstrap confidence interval, the paired Wilcoxon signed-rank test, wins,
ties and losses, and Holm's correction for testing many differences at once.

The tests are scipy's (``scipy.stats.bootstrap``, ``scipy.stats.wilcoxon``); only Holm's
step-down correction is written here (scipy has Benjamini-Hochberg only, statsmodels is not
a dependency, and the correction is a sort and a running maximum).

Degenerate cases, where scipy warns and answers NaN: differences that are all zero carry no
evidence of a difference, so p = 1 and the interval is [0, 0]; differences that are all
equal give the interval [d, d] (every resample has the same mean). Under two cases neither
an interval nor a test is defined (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import bootstrap, wilcoxon

ALPHA = 0.05
CONFIDENCE_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 9999  # scipy's default
BOOTSTRAP_SEED = 0  # the same interval on every run
# Metrics read back from summary.json files differ by rounding only when they are equal.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PairedDifference:
    """``model - baseline`` over ``n`` paired cases: the mean difference, its confidence
    interval, the Wilcoxon p-value, and the cases the model wins, ties and loses (by the
    metric's direction)."""

    n: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    wins: int
    ties: int
    losses: int

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _mean_difference(model: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(model - baseline, axis=axis)


def _confidence_interval(model: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    result = bootstrap((model, baseline), _mean_difference, paired=True, vectorized=True,
                       confidence_level=CONFIDENCE_LEVEL, n_resamples=BOOTSTRAP_RESAMPLES,
                       rng=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = result.confidence_interval
    if np.isnan(low) or np.isnan(high):
        # BCa needs a jackknife with some spread; with very few distinct differences it has
        # none and scipy answers NaN: the percentile interval is then the one defined.
        result = bootstrap((model, baseline), _mean_difference, paired=True, vectorized=True,
                           confidence_level=CONFIDENCE_LEVEL, n_resamples=BOOTSTRAP_RESAMPLES,
                           method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED))
        low, high = result.confidence_interval
    return float(low), float(high)


def paired_difference(model: Sequence[float], baseline: Sequence[float],
                      lower_is_better: bool = False) -> PairedDifference:
    """Compare ``model`` with ``baseline``, the values of one metric on the same cases in the
    same order. ``lower_is_better`` (HD95, volume errors) turns which side wins a case."""
    model, baseline = np.asarray(model, dtype=float), np.asarray(baseline, dtype=float)
    if model.shape != baseline.shape:
        raise ValueError(f"paired values differ in number: {model.size} and {baseline.size}")
    differences = model - baseline
    tied = np.abs(differences) <= TIE_TOLERANCE
    better = -differences if lower_is_better else differences
    wins, ties = int(np.count_nonzero((better > 0) & ~tied)), int(np.count_nonzero(tied))
    counts = dict(n=int(model.size), wins=wins, ties=ties, losses=int(model.size) - wins - ties)
    if model.size == 0:
        return PairedDifference(mean_difference=None, ci_low=None, ci_high=None, p=None, **counts)
    mean = float(differences.mean())
    if model.size < 2:
        return PairedDifference(mean_difference=mean, ci_low=None, ci_high=None, p=None, **counts)
    if tied.all():
        return PairedDifference(mean_difference=0.0, ci_low=0.0, ci_high=0.0, p=1.0, **counts)
    # Every resample of equal differences has their mean: the interval is that point.
    low, high = (mean, mean) if np.ptp(differences) == 0 else _confidence_interval(model, baseline)
    # Ties count as zero differences, which Wilcoxon's test leaves out (zero_method="wilcox").
    p = float(wilcoxon(np.where(tied, 0.0, differences)).pvalue)
    return PairedDifference(mean_difference=mean, ci_low=low, ci_high=high, p=p, **counts)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of ``p_values`` (Holm 1979, as R's ``p.adjust(method =
    "holm")``): the i-th smallest of the m defined values is multiplied by m - i + 1, capped
    at 1 and never below the adjusted value before it. ``None`` stays ``None`` and does not
    count in m."""
    ordered = sorted((p, index) for index, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p))
        adjusted[index] = running
    return adjusted
