"""``covplan plan-and-train``: plan, preprocess, train every fold, print the CV table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from covplan.cli.options import (
    FoldsCommand,
    architectures_given,
    folds_option,
    init_from_option,
    launcher_from_options,
    launcher_options,
    num_folds_option,
    num_processes_option,
)
from covplan.cli.planning_options import planning_options
from covplan.cli.resume_hint import exit_when_interrupted
from covplan.cli.training_options import settings_file_configuration, settings_from_options, training_options
from covplan.launch.jobs import DRY_RUN_SCRIPT
from covplan.planning.budget_candidates import budget_summary
from covplan.pseudo_labelling import PseudoLabelSettings
from covplan.pseudo_labelling.pseudo_label import DEFAULT_TARGET_PRECISION
from covplan.training import format_cross_validation_table
from covplan.work_folder import JOBS_FOLDER, Fold
from covplan.workflows.plan_and_train import plan_and_train


@click.command(name="plan-and-train", cls=FoldsCommand)
@planning_options
@num_folds_option()
@folds_option("Folds to train: -f 0 1, -f 0,1 or all [default: every fold of the split].")
@num_processes_option("Worker processes for fingerprinting and preprocessing.")
@click.option("--budget-scope", type=click.Choice(["fold", "total"]), default="fold", show_default=True,
              help="--time-budget is each fold's, or the whole run's (split evenly over folds, architectures and "
                   "--repeats).")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train every fold N times, with seeds --seed, --seed + 1, ...: the first in WORK, the others "
                   "in WORK/seeds/seed_S/ (WORK folders of links, one model folder per seed), for the spread over "
                   "seeds in `covplan compare` and `covplan find-best`.")
@click.option("--unlabelled", type=click.Path(exists=True, path_type=Path), default=None,
              help="Images without labels (whatever `covplan predict -i` reads): after training, pseudo-label them "
                   "with the models (`covplan pseudo-label`) and train again on both, in "
                   "WORK/pseudo_label_rounds/round_R/; --time-budget is shared evenly by the trainings.")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --unlabelled: how many times to pseudo-label and train again.")
@click.option("--target-precision", type=click.FloatRange(min=0, max=1, min_open=True),
              default=DEFAULT_TARGET_PRECISION, show_default=True,
              help="With --unlabelled: the pseudo-labels' threshold, as `covplan pseudo-label --target-precision`.")
@init_from_option("Plan with this trained model's plans and start every fold from its weights (a model folder "
                  "or a `covplan export` archive of one model); -a defaults to its architecture.")
@training_options
@launcher_options
def plan_and_train_command(dataset_dir: Path, work_dir: Path, architectures: tuple[str, ...], num_folds: int | None,
                           folds: list[Fold] | None, gpu_memory: float, preset: str | None, num_processes: int,
                           budget_scope: str, repeats: int, unlabelled: Path | None, rounds: int,
                           target_precision: float,
                           configuration: str | None, resume: bool,
                           launcher: str | None, jobs_at_once: int, gpus_per_job: int | None, cpus_per_job: int | None, job_minutes: int,
                           partition: str | None, dry_run: bool, init_from: Path | None, **options: Any) -> None:
    """Plan, preprocess and train a converted dataset, then print the CV table.

    DATASET_DIR is a dataset in nnU-Net's raw layout (`covplan convert` writes one). It
    is split into --num-folds folds (5, or one per patient when there are fewer). For
    each architecture every fold (or those of --folds) is trained as `covplan train` trains it, into
    WORK/ARCH__CONFIGURATION/fold_F/; at the end one table per architecture gives the
    Dice per class of every fold and their mean. With --time-budget the plans are fitted
    to the minutes each fold has (see `covplan plan --time-budget`) and every fold's
    schedule runs to its end within them. With --launcher every fold is its own job (logs
    in WORK/jobs/plan-and-train/); the table is collected when all have ended. With
    --repeats N every fold is trained with N seeds, the later ones in WORK/seeds/seed_S/.
    With --unlabelled DIR the images of DIR are pseudo-labelled by the trained models and
    every fold is trained again on the labelled and pseudo-labelled cases (--rounds times);
    a table is printed for each round, its CV Dice on labelled cases only.
    With --init-from the dataset is planned with a trained model's plans (nnU-Net's "move
    plans") and every fold starts from its weights (fold_F/init_from.json says what was
    loaded); --time-budget then fits each fold's schedule to the minutes.

    \b
    Example:
        covplan plan-and-train converted -o work -a plain_unet -f 0 --epochs 5 --iters-per-epoch 20
        covplan plan-and-train converted -o work --time-budget 25
        covplan plan-and-train converted -o work --folds 0,1 --epochs 5 --tracker mlflow
        covplan plan-and-train converted -o work --time-budget 25 --launcher local --jobs 2
        covplan plan-and-train converted -o work --time-budget 25 --launcher slurm --jobs 5 --dry-run
        covplan plan-and-train converted -o work -a plain_unet -a qchc_unet --time-budget 10 --repeats 3
        covplan plan-and-train converted -o work --unlabelled unlabelled/ --rounds 2 --time-budget 30
        covplan plan-and-train converted -o work --init-from model.zip --time-budget 10
    """
    architectures = architectures_given(init_from, architectures)
    configuration = settings_file_configuration(options["settings_file"], architectures, configuration)
    jobs = launcher_from_options(work_dir / JOBS_FOLDER / "plan-and-train", launcher, jobs_at_once, gpus_per_job,
                                 cpus_per_job, job_minutes, partition, dry_run)
    with exit_when_interrupted():
        summaries = plan_and_train(dataset_dir, work_dir, architectures, folds, configuration,
                                   settings_from_options(**options), resume=resume, gpu_memory_gb=gpu_memory,
                                   preset=preset, num_processes=num_processes, budget_scope=budget_scope,
                                   num_folds=num_folds, launcher=jobs, repeats=repeats, unlabelled=unlabelled,
                                   rounds=rounds, pseudo_label_settings=PseudoLabelSettings(
                                       target_precision=target_precision, device=options["device"]),
                                   init_from=init_from)
    if dry_run:
        script = jobs.folder / DRY_RUN_SCRIPT
        click.echo(script.read_text() if script.is_file() else "nothing to submit: every fold is finished")
        return
    for model, summary in summaries.items():
        click.echo(format_cross_validation_table(summary, title=f"{model}:"))
    if options["time_budget"] is not None:
        for architecture in architectures:
            if (summary := budget_summary(work_dir, architecture)) is not None:  # none with --init-from
                click.echo(summary)
