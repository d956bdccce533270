"""``covplan pseudo-label``: unlabelled images labelled by an ensemble where it is sure,
added to a labelled dataset as a new raw dataset."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import checkpoint_option, device_option
from covplan.pseudo_labelling import PseudoLabelSettings, pseudo_label
from covplan.pseudo_labelling.pseudo_label import DEFAULT_TARGET_PRECISION


@click.command(name="pseudo-label")
@click.option("-m", "--model", "model_folders", required=True, multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Model folder WORK/<arch>__<configuration> trained on --dataset with cross-validation folds; "
                   "repeat for a multi-architecture ensemble (models of one WORK: one split).")
@click.option("-i", "--input", "unlabelled_dir", required=True, type=click.Path(exists=True, path_type=Path),
              help="The unlabelled images: whatever `covplan predict -i` reads (NIfTI, DICOM series, PNG/JPG "
                   "slices, a folder of them).")
@click.option("--dataset", "labelled_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The labelled raw dataset the models were trained on (`covplan convert` output).")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The new raw dataset: the labelled cases and pseudo_<case> for every unlabelled image. Must not "
                   "exist yet.")
@click.option("--target-precision", type=click.FloatRange(min=0, max=1, min_open=True),
              default=DEFAULT_TARGET_PRECISION, show_default=True,
              help="Keep the voxels whose ensemble entropy is at most the largest threshold at which the kept "
                   "cross-validation voxels agree with the truth this often for every class (precision and "
                   "recall); the rest get the ignore label.")
@checkpoint_option("Which checkpoint of each fold.")
@click.option("--fast", is_flag=True, help="Predict as `covplan predict --fast` does (no mirroring, less overlap).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the networks [default: every core this process may use].")
@device_option("auto: CUDA (with mixed precision) when available, else CPU.")
def pseudo_label_command(model_folders: tuple[Path, ...], unlabelled_dir: Path, labelled_dir: Path, output_dir: Path,
                         target_precision: float, checkpoint: str, fast: bool, threads: int | None,
                         device: str) -> None:
    """Pseudo-label unlabelled images and write them with the labelled cases as a new dataset.

    The threshold is chosen first, on the models' own cross-validation: each labelled
    case is predicted by the fold that held it out, and the threshold is the largest
    predictive entropy at which the voxels kept agree with the truth at least
    --target-precision for every class. Then the whole ensemble (every fold of every -m
    model) predicts the unlabelled images; voxels above the threshold get nnU-Net's
    ignore label. covplan_dataset.json records which cases are pseudo-labelled, by which
    models and threshold; `covplan plan` keeps them out of every validation fold.

    \b
    Example:
        covplan pseudo-label -m work/plain_unet__2d -i unlabelled/ --dataset converted -o converted_pseudo
        covplan plan-and-train converted_pseudo -o work_pseudo --time-budget 25
    """
    result = pseudo_label(list(model_folders), unlabelled_dir, labelled_dir, output_dir,
                          PseudoLabelSettings(target_precision=target_precision, checkpoint=checkpoint,
                                              device=device, fast=fast, threads=threads))
    choice = result.choice
    click.echo(f"threshold: entropy {choice.threshold:.4g} nats (keeps {100 * choice.kept_fraction:.1f}% of the "
               f"cross-validation voxels; per-class agreement there: "
               + ", ".join(f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in
                           choice.agreement.items()) + ")")
    mean_kept = sum(result.pseudo_labelled.values()) / len(result.pseudo_labelled)
    click.echo(f"{len(result.pseudo_labelled)} pseudo-labelled case(s) written to {output_dir} "
               f"({100 * mean_kept:.1f}% of their voxels kept on average)")
    for case_id, reason in result.failed.items():
        click.echo(f"  not predicted {case_id}: {reason}")
