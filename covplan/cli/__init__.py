"""The ``covplan`` command: a thin click layer over the stage packages, one module per
command."""

from __future__ import annotations

import logging

import click

from covplan import __version__
from covplan.cli.convert_command import convert_command
from covplan.cli.demo_data_command import demo_data_command
from covplan.cli.ensemble_command import ensemble_command
from covplan.cli.evaluate_command import evaluate_command
from covplan.cli.find_best_command import find_best_command
from covplan.cli.plan_command import plan_command
from covplan.cli.plan_and_train_command import plan_and_train_command
from covplan.cli.plugins_command import plugins_command
from covplan.cli.predict_command import predict_command
from covplan.cli.preprocess_command import preprocess_command
from covplan.cli.report_command import report_command
from covplan.cli.train_classifier_command import train_classifier_command
from covplan.cli.train_command import train_command
from covplan.errors import CovplanError


class CovplanGroup(click.Group):
    """Turns a :class:`CovplanError` raised by any command into click's one-line error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CovplanError as error:
            raise click.ClickException(str(error)) from error


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


cli.add_command(plugins_command)
cli.add_command(demo_data_command)
cli.add_command(convert_command)
cli.add_command(plan_command)
cli.add_command(preprocess_command)
cli.add_command(train_command)
cli.add_command(plan_and_train_command)
cli.add_command(train_classifier_command)
cli.add_command(predict_command)
cli.add_command(ensemble_command)
cli.add_command(evaluate_command)
cli.add_command(find_best_command)
cli.add_command(report_command)
