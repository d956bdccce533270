"""``covplan tune``: an Optuna study over architectures, losses and training settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from covplan.cli.options import (
    FoldsCommand,
    architecture_option,
    folds_option,
    launcher_from_options,
    launcher_options,
    with_options,
)
from covplan.cli.resume_hint import exit_when_interrupted
from covplan.cli.training_options import TRAINING_OPTIONS
from covplan.launch.jobs import DRY_RUN_SCRIPT
from covplan.search import KEEP_MODELS, SearchSpace, Study, default_storage, format_trials_table
from covplan.search.study import planned_configurations, searchable_losses
from covplan.training import TrainingSettings
from covplan.training.data import AUGMENTATIONS
from covplan.work_folder import JOBS_FOLDER
from covplan.workflows.tune import tune

# The training options a study shares with `covplan train`: they hold for every trial.
SHARED = {"--epochs", "--iters-per-epoch", "--val-iters", "--time-budget", "--device", "--seed", "--num-workers",
          "--tta/--no-tta"}


def shared_training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of :data:`SHARED`, as `covplan train` declares them."""
    return with_options(command, [option for option in TRAINING_OPTIONS if option[0][0] in SHARED])


@click.command(name="tune", cls=FoldsCommand)
@click.argument("work", type=click.Path(exists=True, file_okay=False, path_type=Path))
@architecture_option("Architecture plugin to search over; repeat for several [default: plain_unet].",
                     multiple=True)
@folds_option("Folds every trial trains; its value is their mean validation foreground Dice [default: 0].")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="Trials the study runs in all (a study started again runs only those it lacks).")
@click.option("--loss", "losses", multiple=True, metavar="NAME",
              help="Loss plugin to try; repeat for several [default: every installed loss].")
@click.option("--augmentation", "augmentations", multiple=True, type=click.Choice(AUGMENTATIONS),
              help="Augmentation to try; repeat for several [default: all].")
@click.option("--lr-min", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Smallest initial learning rate tried (searched on a log scale).")
@click.option("--lr-max", type=click.FloatRange(min=0, min_open=True), default=1e-1, show_default=True,
              help="Largest initial learning rate tried.")
@click.option("--study-name", default=None, metavar="NAME",
              help="The study's name, and its folder WORK/tune/NAME [default: the architectures' names].")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL (sqlite:///..., postgresql://..., mysql://...) that processes on several "
                   "machines can share [default: sqlite:///WORK/tune/NAME/study.db].")
@click.option("--keep-models", type=click.Choice(KEEP_MODELS), default="all", show_default=True,
              help="Checkpoints of the trials to keep when the study ends: all, the best trial's, or none "
                   "(logs and validation results always stay).")
@click.option("--pruning/--no-pruning", default=True, show_default=True,
              help="Stop trials whose per-epoch pseudo Dice falls below the median of earlier trials.")
@shared_training_options
@launcher_options
def tune_command(work: Path, architectures: tuple[str, ...], folds: list | None, trials: int,
                 losses: tuple[str, ...], augmentations: tuple[str, ...], lr_min: float, lr_max: float,
                 study_name: str | None, storage: str | None, keep_models: str, pruning: bool,
                 launcher: str | None, jobs_at_once: int, gpus_per_job: int | None, cpus_per_job: int | None,
                 job_minutes: int, partition: str | None, dry_run: bool, **options: Any) -> None:
    """Search architectures, losses and training settings with an Optuna study.

    WORK is planned and preprocessed (`covplan plan ... --preprocess`; plan several
    configurations with -c to search over them too). Each trial chooses the architecture,
    configuration, batch size (the plan's or half), loss, initial learning rate,
    augmentation and the architecture's own parameters, trains --folds in
    WORK/tune/NAME/trial_N/ and scores their validation Dice; with --time-budget every
    fold gets the same minutes. The study lives in a database (--storage): run the
    command again, or on several machines at once, to continue it. At the end it writes
    WORK/tune/NAME/trials.csv, trials.png and best_settings.json, which
    `covplan train --settings` and `covplan plan-and-train --settings` take.

    \b
    Example:
        covplan tune work -a plain_unet --trials 20 --time-budget 10
        covplan tune work -a plain_unet -a resenc_unet --trials 40 --time-budget 10 --launcher local --jobs 2
        covplan tune work --trials 100 --time-budget 30 --storage postgresql://me@db/covplan --launcher slurm
        covplan train work -a plain_unet -f 0 1 2 3 4 --settings work/tune/plain_unet/best_settings.json
    """
    if lr_min > lr_max:
        raise click.BadParameter(f"--lr-min {lr_min:g} is above --lr-max {lr_max:g}", param_hint="--lr-min")
    architectures = architectures or ("plain_unet",)
    name = study_name or "-".join(architectures)
    configurations = planned_configurations(work, architectures)
    space = SearchSpace(architectures, configurations,
                        searchable_losses(work, architectures[0], configurations, losses),
                        augmentations or AUGMENTATIONS, (lr_min, lr_max))
    study = Study(work, name, storage or default_storage(work, name), trials, space, _settings(**options),
                  tuple(folds or (0,)), pruning)
    jobs = launcher_from_options(study.folder / JOBS_FOLDER, launcher, jobs_at_once, gpus_per_job, cpus_per_job,
                                 job_minutes, partition, dry_run)
    with exit_when_interrupted(resume_flag=None):  # the same command continues the study
        result = tune(study, keep_models, jobs)
    if result is None:
        script = jobs.folder / DRY_RUN_SCRIPT
        click.echo(script.read_text() if script.is_file() else f"nothing to submit: study '{name}' has its trials")
        return
    click.echo(format_trials_table(result.rows))
    click.echo(f"best: trial {result.best_trial}, cross-validation foreground Dice {result.best_value:.4f}; its "
               f"settings: {result.best_settings}; table: {result.table}; plot: {result.plot}")


def _settings(epochs: int, iters_per_epoch: int, val_iters: int, time_budget: float | None, device: str, seed: int,
              num_workers: int | None, tta: bool) -> TrainingSettings:
    return TrainingSettings(num_epochs=epochs, iterations_per_epoch=iters_per_epoch, validation_iterations=val_iters,
                            time_budget_s=None if time_budget is None else 60 * time_budget, device=device, seed=seed,
                            num_workers=num_workers, test_time_mirroring=tta)
