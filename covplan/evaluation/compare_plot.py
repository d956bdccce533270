"""The picture of a comparison (:func:`covplan.evaluation.compare.compare_models`): per
metric, the per-case differences to the baseline of every model and class as points, their
mean and confidence interval as a bar, and zero as a line. Drawn with matplotlib's object
API (no pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from covplan.atomic import atomic_file

# Points of one column spread this far sideways, the same way on every run, so that equal
# differences stay visible as several points.
JITTER = 0.12


def plot_comparison(result: Mapping[str, Any], path: Path) -> Path:
    """Write the comparison's per-case differences as a PNG to ``path``."""
    metrics = result["metrics"]
    several_models = len(result["models"]) > 2
    columns = max(len([row for row in result["rows"] if row["metric"] == metric]) for metric in metrics)
    figure = Figure(figsize=(max(7.0, 1.1 * columns + 2), 3.2 * len(metrics)), layout="constrained")
    jitter = np.random.default_rng(0)
    for axes, metric in zip(figure.subplots(len(metrics), 1, squeeze=False)[:, 0], metrics):
        rows = [row for row in result["rows"] if row["metric"] == metric]
        for position, row in enumerate(rows):
            differences = np.array(list(row["differences"].values()), dtype=float)
            axes.scatter(position + jitter.uniform(-JITTER, JITTER, differences.size), differences, s=12,
                         alpha=0.6, color="tab:blue")
            if row["ci_low"] is not None:
                mean = row["mean_difference"]
                # A bootstrap interval of a skewed sample need not hold the mean: no bar below zero length.
                below, above = max(0.0, mean - row["ci_low"]), max(0.0, row["ci_high"] - mean)
                axes.errorbar(position + 0.3, mean, yerr=[[below], [above]],
                              fmt="o", color="tab:red" if row["significant"] else "black", capsize=4)
        axes.axhline(0.0, color="grey", linewidth=0.8)
        axes.set_xticks(range(len(rows)),
                        [f"{row['class']}\n{row['model']}" if several_models else row["class"] for row in rows],
                        fontsize=8)
        axes.set_ylabel(f"{metric} difference")
        model = "model" if several_models else rows[0]["model"]
        axes.set_title(f"{metric}: {model} - {result['baseline']} per case\n({rows[0]['better']} is better; bar: "
                       f"mean and {result['confidence_level']:.0%} CI, red where Holm's p < {result['alpha']})",
                       fontsize=9)
    with atomic_file(Path(path)) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return Path(path)
