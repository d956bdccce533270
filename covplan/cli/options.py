"""The options several commands share, declared once so that a name means one thing
everywhere: ``-f/--folds`` selects folds (numbers or ``all``), ``--num-folds`` is how many
folds to plan, ``-a/--arch`` an architecture plugin, ``-c/--configuration`` a plans
configuration, ``-j/--num-processes`` worker processes. tests/cli/test_options.py checks that
every command agrees."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from covplan.errors import CovplanError
from covplan.training.work_folder import CONFIGURATIONS, Fold, parse_fold

FOLD_TEXT = re.compile(r"^(\d+|all)(,(\d+|all))*$")
FOLDS_OPTIONS = ("-f", "--folds")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


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
