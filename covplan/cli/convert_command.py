"""``covplan convert SOURCE SRC_DIR OUT_DIR``: one subcommand per registered converter, so
that ``covplan convert SOURCE --help`` shows that converter's own options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from covplan.cli.options import num_processes_param
from covplan.conversion.base import ConverterPlugin, converters
from covplan.conversion.dataset import ConversionSummary


def _converter_command(name: str, converter: ConverterPlugin) -> click.Command:
    def run(src_dir: Path, out_dir: Path, **options: Any) -> None:
        summary = converter.convert(src_dir, out_dir, **options)
        if isinstance(summary, ConversionSummary):
            click.echo("\n".join(summary.lines()))

    params: list[click.Parameter] = [
        click.Argument(["src_dir"], type=click.Path(exists=True, file_okay=False, path_type=Path)),
        click.Argument(["out_dir"], type=click.Path(file_okay=False, path_type=Path)),
        *converter.click_params(),
        # The converters' keyword stays ``workers`` (part of the plugin contract).
        num_processes_param("Cases converted in parallel.", default=1, name="workers"),
        click.Option(["--skip-bad"], is_flag=True,
                     help="Skip cases that cannot be converted and list them, instead of stopping at the first."),
    ]
    doc = (type(converter).__doc__ or "").strip()
    return click.Command(name, callback=run, params=params, help=doc,
                         short_help=converter.description, no_args_is_help=True)


class ConvertGroup(click.Group):
    """The registered converters, looked up when the command line is read."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(converters())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        registered = converters()
        return _converter_command(name, registered[name].plugin) if name in registered else None

    def resolve_command(self, ctx: click.Context, args: list[str]):
        known = self.list_commands(ctx)
        if args and not args[0].startswith("-") and args[0] not in known:
            ctx.fail(f"unknown converter {args[0]!r}; known: {', '.join(known)} (see `covplan plugins`)")
        return super().resolve_command(ctx, args)


@click.group(name="convert", cls=ConvertGroup, subcommand_metavar="SOURCE SRC_DIR OUT_DIR [CONVERTER-OPTIONS]")
def convert_command() -> None:
    """Convert a source dataset to covplan's common format.

    `covplan convert SOURCE SRC_DIR OUT_DIR` writes nnU-Net v2's raw layout (imagesTr,
    labelsTr, imagesTs, dataset.json) plus covplan_dataset.json into OUT_DIR, which must
    not exist or be empty. The source is never modified; on an error nothing is left
    behind. SOURCE is one of the converters below (`covplan plugins` lists them with
    their provider); `covplan convert SOURCE --help` shows its options.

    \b
    Example:
        covplan demo-data demo_work/raw_ct3d --kind ct3d
        covplan convert covid-ct-seg demo_work/raw_ct3d demo_work/converted_ct3d -j 2
    """
