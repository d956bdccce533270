"""The options of the commands that train (train, plan-and-train; tune shares part of
them) and the :class:`TrainingSettings` they describe, with a settings file's values where
the command line gives none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from covplan.cli.options import (
    BUDGET_MINUTES,
    SEED_OPTION,
    TRACKING_OPTIONS,
    OptionSpec,
    configuration_option,
    device_spec,
    with_options,
)
from covplan.errors import CovplanError
from covplan.training import TrainingSettings
from covplan.training.data import AUGMENTATIONS
from covplan.training.settings_file import read_settings_file

# The options train and plan-and-train share.
TRAINING_OPTIONS: list[OptionSpec] = [
    (("--loss",), dict(default=None, help="Loss plugin; default the architecture's default loss.")),
    (("--epochs",), dict(type=click.IntRange(min=1), default=1000, show_default=True, help="Number of epochs.")),
    (("--iters-per-epoch",), dict(type=click.IntRange(min=1), default=250, show_default=True,
                                  help="Training batches per epoch.")),
    (("--val-iters",), dict(type=click.IntRange(min=1), default=50, show_default=True,
                            help="Validation batches per epoch (pseudo Dice, validation loss, early stopping).")),
    (("--time-budget",), dict(type=BUDGET_MINUTES, default=None,
                              help="Minutes for the fold, its final validation included: epochs, iterations "
                                   "and validation iterations are fitted so that the whole learning-rate "
                                   "schedule runs within them (--epochs, --iters-per-epoch and --val-iters are "
                                   "then ignored).")),
    (("--initial-lr",), dict(type=click.FloatRange(min=0, min_open=True), default=None,
                             help="Initial learning rate; default the architecture plugin's.")),
    (("--augmentation",), dict(type=click.Choice(AUGMENTATIONS), default="nnunet", show_default=True,
                               help="nnunet: nnU-Net's pipeline; p015: method A's p = 0.15 pipeline; rot_flip: "
                                    "method C's quarter turns and flips.")),
    device_spec("auto: CUDA when available, else CPU."),
    (("--resume",), dict(is_flag=True, help="Continue every chosen fold from its checkpoint_latest.pth (a finished "
                                            "fold is left as it is).")),
    SEED_OPTION,
    (("--num-workers",), dict(type=click.IntRange(min=0), default=None,
                              help="Background augmentation processes; 0 loads in the training process "
                                   "(bit-reproducible resume); default nnU-Net's nnUNet_n_proc_DA, at most the "
                                   "cores less one.")),
    (("--compile/--no-compile", "compile_network"), dict(default=None,
                                                         help="Compile the network with torch.compile; default on "
                                                              "CUDA (as nnU-Net), not on CPU. With --time-budget "
                                                              "the default compiles only when the measured faster "
                                                              "steps win back the compile time.")),
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


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add -c/--configuration and the training options of :data:`TRAINING_OPTIONS` to a
    click command."""
    command = with_options(command, TRAINING_OPTIONS)
    return configuration_option("Plans configuration [default: 3d_fullres when planned, else 2d].")(command)


def settings_from_options(epochs: int, iters_per_epoch: int, val_iters: int, time_budget: float | None,
                          loss: str | None, initial_lr: float | None, augmentation: str, num_workers: int | None,
                          seed: int, device: str, compile_network: bool | None, evaluate: bool, tta: bool,
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
