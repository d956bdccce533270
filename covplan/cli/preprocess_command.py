"""``covplan preprocess``: the planned configurations' training data."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import architecture_option
from covplan.cli.planning_options import configuration_options
from covplan.preprocessing import preprocess


@click.command(name="preprocess")
@click.argument("work_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@architecture_option("Only the plans of this architecture (repeat for several; default: every plans file in WORK).",
                     multiple=True)
@configuration_options
@click.option("--overwrite", is_flag=True, help="Redo data folders that exist already.")
def preprocess_command(work_dir: Path, architectures: tuple[str, ...], configurations: tuple[str, ...],
                       num_processes: int, overwrite: bool) -> None:
    """Preprocess the training cases for the plans in WORK (written by `covplan plan`).

    Each configuration's data is written by nnunetv2's preprocessor to
    WORK/<data_identifier>/ (nnU-Net's data loaders read it), the labels to
    WORK/gt_segmentations/. Architectures with equal preprocessing share one data folder,
    and folders that exist are kept unless --overwrite.

    \b
    Example:
        covplan preprocess work -j 4
        covplan preprocess work --arch plain_unet -c 3d_fullres
    """
    folders = preprocess(work_dir, architectures or None, configurations or None, num_processes, overwrite)
    for identifier, folder in folders.items():
        click.echo(f"{identifier}: {folder}")
