"""``covplan import``: unpack a model archive into a folder of model folders."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.inference.archive_reader import import_archive


@click.command(name="import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True,
              help="Replace a folder an earlier `covplan import` wrote (only once the new one is complete); a folder "
                   "holding anything else is refused.")
def import_command(archive: Path, target: Path, overwrite: bool) -> None:
    """Unpack a model archive (`covplan export`) into TARGET, checking every file's checksum.

    TARGET then holds one folder per model, as WORK holds them, plus MODEL_CARD.md;
    `covplan predict -m TARGET/<arch>__<configuration>` predicts with it.

    \b
    Example:
        covplan import lung_model.zip models/
        covplan predict -i scans/ -o out/ -m models/qchc_unet__3d_fullres
    """
    for folder in import_archive(archive, target, overwrite):
        click.echo(f"{folder}")
