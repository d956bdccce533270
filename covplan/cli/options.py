"""The options several commands share, declared once so that a name means one thing
everywhere: ``-f/--folds`` selects folds (numbers or ``all``), ``--num-folds`` is how many
folds to plan, ``-a/--arch`` an architecture plugin, ``-c/--configuration`` a plans
configuration, ``-j/--num-processes`` worker processes, ``--device`` where torch runs,
``--checkpoint`` which checkpoint of a fold, ``--seed`` a training seed, and the launcher and
tracker option sets. tests/cli/test_options.py checks that every command agrees. The option
sets of the commands that plan and train are in planning_options.py and training_options.py."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from covplan.errors import CovplanError
from covplan.launch import LAUNCHERS, Launcher
from covplan.tracking.session import TRACKERS_ENV
from covplan.work_folder import CONFIGURATIONS, Fold, parse_fold

FOLD_TEXT = re.compile(r"^(\d+|all)(,(\d+|all))*$")
FOLDS_OPTIONS = ("-f", "--folds")

DEVICES = ("auto", "cpu", "cuda")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
# An option as (declarations, keyword arguments): the form of the option lists several commands share.
OptionSpec = tuple[tuple[str, ...], dict[str, Any]]


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange that also refuses nan and inf, which pass its bounds (every
    comparison with nan is false) and would reach the work as a budget."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


# --time-budget: minutes, a positive finite number.
BUDGET_MINUTES = FiniteFloatRange(min=0, min_open=True)


def spread_folds(args: list[str]) -> list[str]:
    """nnU-Net's ``-f 0 1 2`` as click reads it, ``-f 0 -f 1 -f 2``: the fold numbers that
    follow ``-f``/``--folds`` each get the option. Unambiguous: no command takes a fold
    number as an argument."""
    spread: list[str] = []
    value_next = after_value = False
    for index, arg in enumerate(args):
        if arg == "--":  # the rest are arguments
            return spread + args[index:]
        if after_value and FOLD_TEXT.match(arg):
            spread += [FOLDS_OPTIONS[0], arg]
            continue
        after_value = value_next and bool(FOLD_TEXT.match(arg))
        value_next = arg in FOLDS_OPTIONS
        spread.append(arg)
    return spread


class FoldsCommand(click.Command):
    """A command whose ``-f/--folds`` also takes several folds after one ``-f``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_folds(args))


def _parse_folds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Fold] | None:
    try:
        folds = [parse_fold(text.strip()) for value in values for text in value.split(",") if text.strip()]
    except CovplanError as error:
        raise click.BadParameter(str(error)) from error
    return list(dict.fromkeys(folds)) or None


def folds_option(help: str, required: bool = False) -> Decorator:
    """``-f/--folds``: fold numbers or ``all``, as ``-f 0 1``, ``-f 0 -f 1`` or ``-f 0,1``
    (the command needs ``cls=FoldsCommand`` for the first form); a list, or None when not given."""
    return click.option(*FOLDS_OPTIONS, "folds", multiple=True, required=required, callback=_parse_folds,
                        metavar="F [F ...]", help=help)


def num_folds_option() -> Decorator:
    """``--num-folds``: how many cross-validation folds to plan."""
    return click.option("--num-folds", type=click.IntRange(min=2), default=None,
                        help="Cross-validation folds to plan; all cases of one patient stay in one fold "
                             "[default: 5, or one per patient when there are fewer].")


def architecture_option(help: str, multiple: bool = False, **keywords: Any) -> Decorator:
    """``-a/--arch``: an architecture plugin's name (repeat when ``multiple``)."""
    return click.option("-a", "--arch", "architectures" if multiple else "architecture", multiple=multiple,
                        metavar="NAME", help=help, **keywords)


def configuration_option(help: str, multiple: bool = False, **keywords: Any) -> Decorator:
    """``-c/--configuration``: one of the configurations covplan plans (repeat when ``multiple``)."""
    return click.option("-c", "--configuration", "configurations" if multiple else "configuration",
                        multiple=multiple, type=click.Choice(CONFIGURATIONS), help=help, **keywords)


def option_from(spec: OptionSpec) -> Decorator:
    """The click option ``spec`` declares."""
    declarations, keywords = spec
    return click.option(*declarations, **keywords)


def device_spec(help: str) -> OptionSpec:
    """``--device``: where torch runs, ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``."""
    return ("--device",), dict(type=click.Choice(DEVICES), default="auto", show_default=True, help=help)


def device_option(help: str) -> Decorator:
    """:func:`device_spec` as a decorator."""
    return option_from(device_spec(help))


# ``--seed`` of the commands that train (the plan's fold split has its own seed).
SEED_OPTION: OptionSpec = (("--seed",), dict(type=int, default=12345, show_default=True, help="Random seed."))


def seed_option() -> Decorator:
    """:data:`SEED_OPTION` as a decorator."""
    return option_from(SEED_OPTION)


def checkpoint_option(help: str) -> Decorator:
    """``--checkpoint``: which checkpoint of each fold, ``final`` or ``best``."""
    return click.option("--checkpoint", type=click.Choice(["final", "best"]), default="final", show_default=True,
                        help=help)


def init_from_option(help: str) -> Decorator:
    """``--init-from MODEL_FOLDER|ARCHIVE``: a trained model to start from."""
    return click.option("--init-from", type=click.Path(exists=True, path_type=Path), default=None,
                        metavar="MODEL_FOLDER|ARCHIVE", help=help)


def architectures_given(init_from: Path | None, architectures: tuple[str, ...]) -> tuple[str, ...]:
    """The -a/--arch values, or none with --init-from when -a was left at its default:
    the run then takes the source model's architecture."""
    source = click.get_current_context().get_parameter_source("architectures")
    return () if init_from is not None and source is ParameterSource.DEFAULT else architectures


def _num_processes(help: str, default: int, name: str) -> tuple[list[str], dict[str, Any]]:
    return ["-j", "--num-processes", name], dict(type=click.IntRange(min=1), default=default, show_default=True,
                                                 help=help)


def num_processes_option(help: str, default: int = 2, name: str = "num_processes") -> Decorator:
    """``-j/--num-processes``: worker processes (``name``: the parameter it fills)."""
    declarations, attributes = _num_processes(help, default, name)
    return click.option(*declarations, **attributes)


def num_processes_param(help: str, default: int = 2, name: str = "num_processes") -> click.Option:
    """:func:`num_processes_option` for a command built from a list of parameters."""
    declarations, attributes = _num_processes(help, default, name)
    return click.Option(declarations, **attributes)


# The options that select experiment trackers: train, plan-and-train and find-best.
TRACKING_OPTIONS: list[OptionSpec] = [
    (("--tracker", "trackers"), dict(multiple=True, metavar="NAME", envvar=TRACKERS_ENV, show_envvar=True,
                                     help="Also report parameters, metrics and files to this experiment tracker "
                                          "(tensorboard, mlflow or a plugin's; see `covplan plugins`); repeat for "
                                          "several. The environment variable takes names separated by spaces.")),
    (("--tracking-uri",), dict(default=None, metavar="URI",
                               help="Tracking store or server of trackers that have one, e.g. "
                                    "http://localhost:5000 for MLflow [default: mlflow's sqlite store "
                                    "WORK/mlflow.db].")),
]

# The options that run work as jobs: plan-and-train and tune.
LAUNCHER_OPTIONS: list[OptionSpec] = [
    (("--launcher",), dict(type=click.Choice(LAUNCHERS), default=None,
                           help="Run each fold (tune: each trial) as its own job with submitit (pip install "
                                "'covplan[slurm]'): local on this machine, slurm on a cluster [default: one "
                                "after the other in this process].")),
    (("--jobs", "jobs_at_once"), dict(type=click.IntRange(min=1), default=1, show_default=True,
                                      help="Jobs running at a time: local, side by side (at most one per GPU); "
                                           "slurm, the job array's parallelism.")),
    (("--gpus-per-job",), dict(type=click.IntRange(min=0), default=None,
                               help="GPUs each job asks for [default: 1 when training uses CUDA, else 0].")),
    (("--cpus-per-job",), dict(type=click.IntRange(min=1), default=None,
                               help="CPUs each SLURM job asks for (cpus-per-task) [default: the cluster's].")),
    (("--job-minutes",), dict(type=click.IntRange(min=1), default=24 * 60, show_default=True,
                              help="Time limit of each job in minutes.")),
    (("--partition",), dict(default=None, metavar="NAME", help="SLURM partition to submit to.")),
    (("--dry-run",), dict(is_flag=True, help="With --launcher slurm: write and print the sbatch script of the "
                                             "jobs (WORK/jobs/.../dry_run.sbatch), submit nothing.")),
]


def with_options(command: Callable[..., Any], options: list[OptionSpec]) -> Callable[..., Any]:
    """``command`` with the click options ``options`` lists, in that order."""
    for spec in reversed(options):
        command = option_from(spec)(command)
    return command


def tracking_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the tracker options of :data:`TRACKING_OPTIONS` to a click command."""
    return with_options(command, TRACKING_OPTIONS)


def launcher_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options of :data:`LAUNCHER_OPTIONS` to a click command."""
    return with_options(command, LAUNCHER_OPTIONS)


def launcher_from_options(folder: Path, launcher: str | None, jobs_at_once: int, gpus_per_job: int | None,
                          cpus_per_job: int | None, job_minutes: int, partition: str | None,
                          dry_run: bool) -> Launcher | None:
    """The :class:`covplan.launch.Launcher` the launcher options describe (None without
    --launcher), its job logs in ``folder``."""
    if dry_run and launcher != "slurm":
        raise click.BadParameter("--dry-run shows the sbatch script of --launcher slurm", param_hint="--dry-run")
    if launcher is None:
        return None
    return Launcher(launcher, Path(folder), jobs_at_once, gpus_per_job, cpus_per_job, job_minutes, partition, dry_run)
