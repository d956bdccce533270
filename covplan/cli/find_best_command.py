"""``covplan find-best``: the best model or ensemble by cross-validation Dice, and its post-processing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from covplan.cli.options import architecture_option, num_processes_option, tracking_options
from covplan.evaluation import DEFAULT_PROCESSES
from covplan.evaluation.find_best import find_best
from covplan.tracking import open_tracking


def _dice(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _print_result(result: dict[str, Any]) -> None:
    click.echo(f"{'model or ensemble':<48}{'kind':>10}{'Dice':>8}")
    for entry in result["ranking"]:
        click.echo(f"{entry['name']:<48}{entry['kind']:>10}{_dice(entry['foreground_dice']):>8}")
    if result["ensemble_note"]:
        click.echo(f"no ensembles: {result['ensemble_note']}")
    click.echo(f"best: {result['best']}")
    if result["against_runner_up"] is not None:
        click.echo(against_runner_up_line(result["against_runner_up"]))
    for model, spread in result["spread_over_seeds"].items():
        sd = "" if spread["sd"] is None else f" +- {spread['sd']:.4f} (standard deviation)"
        click.echo(f"over {len(spread['foreground_dice'])} seeds: {model} {_dice(spread['mean'])}{sd}")
    postprocessing = result["postprocessing"]
    click.echo(f"post-processing ({postprocessing['file']}):")
    for rule in postprocessing["rules"]:
        click.echo(f"  {json.dumps(rule)}")
    if not postprocessing["rules"]:
        click.echo(f"  none: {postprocessing.get('note') or 'no rule raised the Dice of its class'}")
    for key, name in postprocessing["names"].items():
        click.echo(f"  Dice {name}: {_dice(postprocessing['dice_before'][key])} -> "
                   f"{_dice(postprocessing['dice_after'][key])}")


def against_runner_up_line(test: dict[str, Any]) -> str:
    """Whether the best beats the runner-up significantly, in one line."""
    if test["p"] is None:
        return (f"against the runner-up {test['runner_up']}: {test['n']} shared case(s), too few for a test; "
                f"chosen by mean, as nnU-Net chooses")
    verdict = (f"significantly better at {test['alpha']}" if test["significant"]
               else f"not significantly better at {test['alpha']}; chosen by mean, as nnU-Net chooses")
    return (f"against the runner-up {test['runner_up']}: foreground Dice {test['mean_difference']:+.4f} per case "
            f"(95% CI {test['ci_low']:+.4f} to {test['ci_high']:+.4f}, {test['n']} cases, paired Wilcoxon "
            f"p = {test['p']:.4f}): {verdict}")


@click.command(name="find-best")
@click.argument("work_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@architecture_option("Compare only this architecture's models; repeat for several "
                     "[default: every trained model in WORK_DIR].", multiple=True)
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the result [default: WORK_DIR/find_best.json].")
@num_processes_option("Processes scoring the ensembles' predictions.", default=DEFAULT_PROCESSES)
@tracking_options
def find_best_command(work_dir: Path, architectures: tuple[str, ...], output_file: Path | None, num_processes: int,
                      trackers: tuple[str, ...], tracking_uri: str | None) -> None:
    """Rank trained models and their ensembles by cross-validation Dice and choose
    post-processing for the best.

    Reads WORK_DIR/<arch>__<configuration>/fold_*/validation (predictions and
    summary.json) and the references in WORK_DIR/gt_segmentations. Models that saved
    validation probabilities (.npz) are also ensembled in pairs (WORK_DIR/ensembles). On the
    best one's cross-validation predictions each post-processing rule is kept only where it
    raises the Dice of its class; the choice is stored as postprocessing.json in its folder,
    and everything in WORK_DIR/find_best.json. See docs/postprocessing.md.

    \b
    Example:
        covplan find-best work
        covplan find-best work -a plain_unet -a coarse_refine -o work/best.json
        covplan find-best work --tracker mlflow
    """
    _print_result(find_best(work_dir, architectures=list(architectures) or None, output_file=output_file,
                            num_processes=num_processes, tracking=open_tracking(trackers, tracking_uri)))
