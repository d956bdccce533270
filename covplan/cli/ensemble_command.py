"""``covplan ensemble``: average saved probabilities of several predictions."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.inference import ensemble_folders


@click.command(name="ensemble")
@click.option("-i", "--input", "input_folders", required=True, multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder written by `covplan predict --save-probabilities`; repeat for each member.")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for the ensembled label maps.")
@click.option("--save-probabilities", is_flag=True, help="Also write the averaged <case>.npz and <case>.pkl.")
@click.option("--overwrite", is_flag=True, help="Replace existing label maps (kept otherwise).")
def ensemble_command(input_folders: tuple[Path, ...], output_dir: Path, save_probabilities: bool,
                     overwrite: bool) -> None:
    """Average the class probabilities of several prediction folders, as nnUNetv2_ensemble does.

    Every folder must hold <case>.npz for the same cases; label maps are written in
    each case's format (NIfTI for volumes, PNG for slices) on the input's grid.

    \b
    Example:
        covplan predict -i scans/ -o pred_a/ -m work/plain_unet__3d_fullres --save-probabilities
        covplan predict -i scans/ -o pred_b/ -m work/qchc_unet__3d_fullres --save-probabilities
        covplan ensemble -i pred_a/ -i pred_b/ -o pred_ensemble/
    """
    written = ensemble_folders(list(input_folders), output_dir, save_probabilities, overwrite)
    click.echo(f"{len(written)} case(s) written to {output_dir}")
