"""``covplan train-classifier``: the slice classifier of trained coarse_refine folds."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import FoldsCommand, architecture_option, device_option, folds_option, seed_option
from covplan.training.slice_classifier import train_slice_classifier
from covplan.work_folder import Fold


@click.command(name="train-classifier", cls=FoldsCommand)
@click.argument("work", type=click.Path(exists=True, file_okay=False, path_type=Path))
@folds_option("Folds whose segmentation networks get a classifier: -f 0 1, -f 0,1 or all.", required=True)
@architecture_option("Architecture whose plugin offers a slice classifier (coarse_refine does).",
                     default="coarse_refine", show_default=True)
@click.option("--iterations", type=click.IntRange(min=1), default=250, show_default=True,
              help="Training batches of the classifier head.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Adam's learning rate; default the plugin's (coarse_refine: 3e-4).")
@device_option("auto: CUDA when available, else CPU.")
@seed_option()
def train_classifier_command(work: Path, folds: list[Fold], architecture: str, iterations: int,
                             learning_rate: float | None, device: str, seed: int) -> None:
    """Train the slice classifier (lesion / no lesion) of trained 2D folds.

    Run it after `covplan train` (or plan-and-train) of coarse_refine's 2d configuration:
    the fold's encoder is frozen and only the classifier head learns, on patches of the
    fold's training cases. Writes WORK/<arch>__2d/fold_F/slice_classifier.pth; `covplan
    predict` then skips the slices the classifiers call lesion-free.

    \b
    Example:
        covplan train-classifier work/ -f 0 1 --iterations 250
        covplan predict -i slices/ -o out/ -m work/coarse_refine__2d
    """
    for fold in folds:
        path = train_slice_classifier(work, fold, architecture, iterations,
                                      learning_rate=learning_rate, device=device, seed=seed)
        click.echo(f"fold {fold}: slice classifier written to {path}")
