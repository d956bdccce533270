"""``covplan compare``: models against a baseline, case by case, with confidence intervals
and Holm-corrected paired tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from covplan.cli.options import num_processes_option
from covplan.evaluation import DEFAULT_PROCESSES
from covplan.evaluation.compare import compare_folders
from covplan.labels.roles import find_dataset_json, load_dataset_json


def _value(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else format(value, "+.4f" if signed else ".4f")


def format_comparison(result: dict[str, Any]) -> list[str]:
    """The terminal table: per metric a heading, then one line per model and class."""
    model_width = max(len("model"), *(len(row["model"]) for row in result["rows"])) + 2
    class_width = max(len("class"), *(len(row["class"]) for row in result["rows"])) + 2
    lines = []
    for metric in result["metrics"]:
        rows = [row for row in result["rows"] if row["metric"] == metric]
        lines.append(f"{metric} ({rows[0]['better']} is better), model - baseline {result['baseline']} over "
                     f"{len(result['cases'])} cases; p: paired Wilcoxon, Holm-corrected over {len(rows)} rows")
        lines.append(f"{'model':<{model_width}}{'class':<{class_width}}{'n':>4}{'baseline':>10}{'model':>10}"
                     f"{'diff':>10}  {'95% CI':<20}{'p (Holm)':>9}  W/T/L")
        for row in rows:
            interval = (f"[{_value(row['ci_low'], True)}, {_value(row['ci_high'], True)}]"
                        if row["ci_low"] is not None else "n/a")
            star = "*" if row["significant"] else " "
            lines.append(f"{row['model']:<{model_width}}{row['class']:<{class_width}}{row['n']:>4}"
                         f"{_value(row['baseline_mean']):>10}{_value(row['model_mean']):>10}"
                         f"{_value(row['mean_difference'], True):>10}  {interval:<20}{_value(row['p_holm']):>8}{star}"
                         f"  {row['wins']}/{row['ties']}/{row['losses']}")
    lines.append(f"* Holm-corrected p < {result['alpha']}; W/T/L: cases the model wins, ties and loses")
    return lines


@click.command(name="compare")
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--references", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Reference label maps of the cases, for arguments that are prediction folders (model folders "
                   "bring their cross-validation scores).")
@click.option("--metric", "metrics", multiple=True, default=("Dice",), show_default=True, metavar="NAME",
              help="Metric of `covplan evaluate` to compare (Dice, NSD, HD95, LesionF1, IoU, ...); repeat for "
                   "several.")
@click.option("--dataset-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="dataset.json with label names and file ending, for prediction folders "
                   "[default: found in or beside the first prediction folder or --references].")
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for compare.json, compare.csv and compare.png [default: compare/ beside the first "
                   "model].")
@num_processes_option("Processes scoring prediction folders.", default=DEFAULT_PROCESSES)
def compare_command(models: tuple[Path, ...], references: Path | None, metrics: tuple[str, ...],
                    dataset_json: Path | None, output_dir: Path | None, num_processes: int) -> None:
    """Compare models with the first one (the baseline), case by case.

    Each of MODELS is a model folder (WORK/ARCH__CONFIGURATION: its cross-validation
    predictions, scored in fold_*/validation/summary.json) or, with --references, a
    folder of predictions. For every metric, model and class (and the foreground mean)
    it gives the mean per-case difference to the baseline with a paired bootstrap 95%
    confidence interval, the paired Wilcoxon signed-rank p-value, Holm-corrected over the
    metric's rows, and the cases won, tied and lost. Every model must cover the same
    cases. See docs/evaluation.md.

    \b
    Example:
        covplan compare work/plain_unet__3d_fullres work/qchc_unet__3d_fullres
        covplan compare work/plain_unet__2d work/seeds/seed_12346/plain_unet__2d --metric Dice --metric HD95
        covplan compare nnunet_predictions covplan_predictions --references labelsTr -o comparison
    """
    if dataset_json is None and references is not None:
        dataset_json = find_dataset_json(models[0], references)
    result, written = compare_folders(list(models), references, metrics,
                                      load_dataset_json(dataset_json) if dataset_json is not None else None,
                                      output_dir, num_processes)
    for line in format_comparison(result):
        click.echo(line)
    click.echo(f"written: {written['json']}, {written['csv']}, {written['plot']}")
