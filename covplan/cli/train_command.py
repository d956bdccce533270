"""``covplan train``: one fold of one architecture on a planned, preprocessed WORK folder."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from covplan.cli import COMMAND_LINE
from covplan.cli.options import (
    FoldsCommand, architecture_option, configuration_option, folds_option, with_options,
)
from covplan.errors import CovplanError
from covplan.tracking.session import TRACKERS_ENV
from covplan.training import TrainingSettings, train_folds
from covplan.training.data import AUGMENTATIONS
from covplan.training.interruption import Interrupted
from covplan.training.settings_file import read_settings_file
from covplan.training.work_folder import Fold

logger = logging.getLogger(__name__)

# (option declarations, keyword arguments) of the options that select experiment trackers:
# train, plan-and-train and find-best.
TRACKING_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--tracker", "trackers"), dict(multiple=True, metavar="NAME", envvar=TRACKERS_ENV, show_envvar=True,
                                     help="Also report parameters, metrics and files to this experiment tracker "
                                          "(tensorboard, mlflow or a plugin's; see `covplan plugins`); repeat for "
                                          "several. The environment variable takes names separated by spaces.")),
    (("--tracking-uri",), dict(default=None, metavar="URI",
                               help="Tracking store or server of trackers that have one, e.g. "
                                    "http://localhost:5000 for MLflow [default: mlflow's sqlite store "
                                    "WORK/mlflow.db].")),
]

# (option declarations, keyword arguments) of the options train and plan-and-train share.
TRAINING_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--loss",), dict(default=None, help="Loss plugin; default the architecture's default loss.")),
    (("--epochs",), dict(type=click.IntRange(min=1), default=1000, show_default=True, help="Number of epochs.")),
    (("--iters-per-epoch",), dict(type=click.IntRange(min=1), default=250, show_default=True,
                                  help="Training batches per epoch.")),
    (("--val-iters",), dict(type=click.IntRange(min=1), default=50, show_default=True,
                            help="Validation batches per epoch (pseudo Dice, validation loss, early stopping).")),
    (("--time-budget",), dict(type=click.FloatRange(min=0, min_open=True), default=None,
                              help="Minutes for the fold, its final validation included: epochs, iterations "
                                   "and validation iterations are fitted so that the whole learning-rate "
                                   "schedule runs within them (--epochs, --iters-per-epoch and --val-iters are "
                                   "then ignored).")),
    (("--initial-lr",), dict(type=click.FloatRange(min=0, min_open=True), default=None,
                             help="Initial learning rate; default the architecture plugin's.")),
    (("--augmentation",), dict(type=click.Choice(AUGMENTATIONS), default="nnunet", show_default=True,
                               help="nnunet: nnU-Net's pipeline; p015: method A's p = 0.15 pipeline; rot_flip: "
                                    "method C's quarter turns and flips.")),
    (("--device",), dict(type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                         help="auto: CUDA when available, else CPU.")),
    (("--resume",), dict(is_flag=True, help="Continue every chosen fold from its checkpoint_latest.pth (a finished "
                                            "fold is left as it is).")),
    (("--seed",), dict(type=int, default=12345, show_default=True, help="Random seed.")),
    (("--num-workers",), dict(type=click.IntRange(min=0), default=None,
                              help="Background augmentation processes; 0 loads in the training process "
                                   "(bit-reproducible resume); default nnU-Net's nnUNet_n_proc_DA, at most the "
                                   "cores less one.")),
    (("--compile", "compile_network"), dict(is_flag=True, help="Compile the network with torch.compile.")),
    (("--evaluate/--no-evaluate",), dict(default=True, show_default=True,
                                         help="Predict the fold's validation cases after training and write "
                                              "validation/summary.json.")),
    (("--tta/--no-tta",), dict(default=True, show_default=True,
                               help="Mirroring test-time augmentation when predicting the validation cases.")),
    (("--settings", "settings_file"), dict(type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                                           metavar="FILE",
                                           help="A settings file (`covplan tune` writes its best trial's as "
                                                "WORK/tune/STUDY/best_settings.json): its learning rate, loss, "
                                                "augmentation, batch size, schedule and architecture parameters; "
                                                "options given on the command line win.")),
    *TRACKING_OPTIONS,
]

# The settings a settings file holds that a training option also sets: the option wins
# when the command line gives it.
OPTION_OF_SETTING = {"num_epochs": "epochs", "iterations_per_epoch": "iters_per_epoch",
                     "validation_iterations": "val_iters", "time_budget_s": "time_budget", "loss": "loss",
                     "initial_lr": "initial_lr", "augmentation": "augmentation", "seed": "seed"}


def training_options(command):
    """Add -c/--configuration and the training options of :data:`TRAINING_OPTIONS` to a
    click command."""
    command = with_options(command, TRAINING_OPTIONS)
    return configuration_option("Plans configuration [default: 3d_fullres when planned, else 2d].")(command)


def tracking_options(command):
    """Add the tracker options of :data:`TRACKING_OPTIONS` to a click command."""
    return with_options(command, TRACKING_OPTIONS)


def settings_from_options(epochs: int, iters_per_epoch: int, val_iters: int, time_budget: float | None,
                          loss: str | None, initial_lr: float | None, augmentation: str, num_workers: int | None,
                          seed: int, device: str, compile_network: bool, evaluate: bool, tta: bool,
                          trackers: tuple[str, ...], tracking_uri: str | None,
                          settings_file: Path | None = None) -> TrainingSettings:
    """The :class:`TrainingSettings` the shared training options describe, with the
    values of ``settings_file`` where the command line does not give them."""
    settings = TrainingSettings(
        num_epochs=epochs, iterations_per_epoch=iters_per_epoch, validation_iterations=val_iters,
        time_budget_s=None if time_budget is None else 60 * time_budget, loss=loss, initial_lr=initial_lr,
        augmentation=augmentation, num_workers=num_workers, seed=seed, device=device, compile=compile_network,
        evaluate=evaluate, test_time_mirroring=tta, trackers=tuple(trackers), tracking_uri=tracking_uri)
    if settings_file is None:
        return settings
    context = click.get_current_context()
    given = {name for name, option in OPTION_OF_SETTING.items()
             if context.get_parameter_source(option) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    return read_settings_file(settings_file).apply(settings, keep=given)


def settings_file_configuration(settings_file: Path | None, architectures: tuple[str, ...] | list[str],
                                configuration: str | None) -> str | None:
    """The configuration to train: ``-c``, else the settings file's. A settings file of an
    architecture not being trained is refused: its architecture parameters belong to it."""
    if settings_file is None:
        return configuration
    model = read_settings_file(settings_file)
    if model.architecture not in architectures:
        raise CovplanError(f"{settings_file} holds the settings of architecture '{model.architecture}'; train it "
                           f"with -a {model.architecture}")
    return configuration or model.configuration


@contextmanager
def exit_when_interrupted(resume_flag: str | None = "--resume") -> Iterator[None]:
    """A training command stopped by SIGTERM or SIGINT says in one line how to continue it
    (the same command, with ``resume_flag`` when it takes one) and exits with that signal's
    status (143, 130), where click would print "Aborted!" and exit with 1, or SIGTERM
    would kill it outright."""
    try:
        yield
    except Interrupted as interruption:
        arguments = click.get_current_context().meta[COMMAND_LINE]  # its options included
        added = [resume_flag] if resume_flag and resume_flag not in arguments else []
        command = shlex.join(["covplan", *arguments, *added])
        logger.warning("interrupted by %s; `%s` continues it", interruption.signal_name, command)
        click.get_current_context().exit(interruption.exit_status)


@click.command(name="train", cls=FoldsCommand)
@click.argument("work", type=click.Path(exists=True, file_okay=False, path_type=Path))
@architecture_option("Architecture plugin to train (see `covplan plugins`).", required=True)
@folds_option("Folds of splits_final.json to train, one after the other: -f 0 1, -f 0,1, or all to train on "
              "every case.", required=True)
@training_options
def train_command(work: Path, architecture: str, folds: list[Fold], configuration: str | None, resume: bool,
                  **options: Any) -> None:
    """Train folds of an architecture on a planned and preprocessed WORK folder.

    Writes WORK/ARCH__CONFIGURATION/fold_F/ for each fold: checkpoints (latest, best,
    final), training_log.csv, progress.png and validation/summary.json, then prints the
    cross-validation table of every evaluated fold. Start it with
    `torchrun --nproc-per-node N -m covplan train ...` to train on N processes.

    \b
    Example:
        covplan train work -a plain_unet -f 0 --epochs 5 --iters-per-epoch 20
        covplan train work -a plain_unet -f 0 1 2 3 4 --resume
        covplan train work -a plain_unet -f 0 --epochs 5 --tracker tensorboard --tracker mlflow
        covplan train work -a plain_unet -f 0 1 2 3 4 --settings work/tune/plain_unet/best_settings.json
    """
    configuration = settings_file_configuration(options["settings_file"], [architecture], configuration)
    settings = settings_from_options(**options)
    with exit_when_interrupted():
        table = train_folds(work, architecture, folds, configuration, settings, resume=resume)
    if table is not None:
        click.echo(table)
