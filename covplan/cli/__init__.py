"""The ``covplan`` command: a thin click layer over the stage packages, one module per
command."""

from __future__ import annotations

import importlib
import logging

import click

from covplan.errors import CovplanError, WriteFailed
from covplan.version import __version__
from covplan.write_failures import os_error_line

# Command name -> "module:attribute". A command's module (and the stage packages it
# imports: nnunetv2's predictor, matplotlib, ...) is imported only when that command runs
# or `--help` lists it: nnU-Net's worker processes start with `spawn` and re-import the
# main script, so every eager import here would be paid again by each worker.
COMMANDS = {
    "plugins": "covplan.cli.plugins_command:plugins_command",
    "demo-data": "covplan.cli.demo_data_command:demo_data_command",
    "convert": "covplan.cli.convert_command:convert_command",
    "plan": "covplan.cli.plan_command:plan_command",
    "preprocess": "covplan.cli.preprocess_command:preprocess_command",
    "train": "covplan.cli.train_command:train_command",
    "plan-and-train": "covplan.cli.plan_and_train_command:plan_and_train_command",
    "tune": "covplan.cli.tune_command:tune_command",
    "train-classifier": "covplan.cli.train_classifier_command:train_classifier_command",
    "predict": "covplan.cli.predict_command:predict_command",
    "ensemble": "covplan.cli.ensemble_command:ensemble_command",
    "pseudo-label": "covplan.cli.pseudo_label_command:pseudo_label_command",
    "export": "covplan.cli.export_command:export_command",
    "import": "covplan.cli.import_command:import_command",
    "evaluate": "covplan.cli.evaluate_command:evaluate_command",
    "find-best": "covplan.cli.find_best_command:find_best_command",
    "compare": "covplan.cli.compare_command:compare_command",
    "report": "covplan.cli.report_command:report_command",
}

# Key of click's context meta (shared by every command's context) under which the
# arguments after `covplan` are kept, for a message that gives the command to run next.
COMMAND_LINE = "covplan.command_line"


class CovplanGroup(click.Group):
    """Loads each command from :data:`COMMANDS` when it is needed (click's documented
    lazy-loading group), keeps the command line in ``ctx.meta[COMMAND_LINE]`` and turns a
    :class:`CovplanError` raised by any command, and a write that failed for want of space
    or permission, into click's one-line error."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)  # pipeline order, as docs/cli.md lists them

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if command.name != cmd_name:
            raise RuntimeError(f"{COMMANDS[cmd_name]} is named '{command.name}', listed as '{cmd_name}'")
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[COMMAND_LINE] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (CovplanError, WriteFailed) as error:
            raise click.ClickException(str(error)) from error
        except OSError as error:  # a folder or log no covplan writer named: a full disk, a read-only folder
            failure = os_error_line(error)
            if failure is None:
                raise
            raise click.ClickException(str(failure)) from error


@click.group(cls=CovplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="covplan")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug messages).")
def cli(verbose: int) -> None:
    """nnU-Net-style auto-configuration for chest-CT lung and lesion segmentation,
    with architectures, losses and dataset converters as plugins.

    \b
    Example:
        covplan plugins --json
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="covplan: %(levelname)s: %(message)s")
