"""``covplan train``: one fold of one architecture on a planned, preprocessed WORK folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from covplan.cli.options import FoldsCommand, architecture_option, folds_option, init_from_option
from covplan.cli.resume_hint import exit_when_interrupted
from covplan.cli.training_options import settings_file_configuration, settings_from_options, training_options
from covplan.work_folder import Fold
from covplan.workflows.init_from import train_folds_from

logger = logging.getLogger(__name__)

@click.command(name="train", cls=FoldsCommand)
@click.argument("work", type=click.Path(exists=True, file_okay=False, path_type=Path))
@architecture_option("Architecture plugin to train (see `covplan plugins`).", required=True)
@folds_option("Folds of splits_final.json to train, one after the other: -f 0 1, -f 0,1, or all to train on "
              "every case.", required=True)
@init_from_option("Start each fold from this trained model's weights (a model folder or a `covplan export` "
                  "archive of one model): tensors whose name and shape match are loaded, output heads "
                  "re-initialised when the labels differ; WORK must be planned with `covplan plan --init-from`.")
@training_options
def train_command(work: Path, architecture: str, folds: list[Fold], configuration: str | None, resume: bool,
                  init_from: Path | None, **options: Any) -> None:
    """Train folds of an architecture on a planned and preprocessed WORK folder.

    Writes WORK/ARCH__CONFIGURATION/fold_F/ for each fold: checkpoints (latest, best,
    final), training_log.csv, progress.png and validation/summary.json, then prints the
    cross-validation table of every evaluated fold. With --init-from each fold starts from
    a trained model and records what it loaded in fold_F/init_from.json. Start it with
    `torchrun --nproc-per-node N -m covplan train ...` to train on N processes.

    \b
    Example:
        covplan train work -a plain_unet -f 0 --epochs 5 --iters-per-epoch 20
        covplan train work -a plain_unet -f 0 1 2 3 4 --resume
        covplan train work -a plain_unet -f 0 --epochs 5 --tracker tensorboard --tracker mlflow
        covplan train work -a plain_unet -f 0 1 2 3 4 --settings work/tune/plain_unet/best_settings.json
        covplan train work -a plain_unet -f 0 --init-from model.zip --time-budget 10
    """
    configuration = settings_file_configuration(options["settings_file"], [architecture], configuration)
    settings = settings_from_options(**options)
    with exit_when_interrupted():
        table = train_folds_from(work, architecture, folds, configuration, settings, resume=resume,
                                 init_from=init_from)
    if table is not None:
        click.echo(table)
