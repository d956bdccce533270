"""``covplan predict``: label maps for new images from one or several trained models."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import FoldsCommand, checkpoint_option, device_option, folds_option
from covplan.errors import CovplanError
from covplan.inference import PredictionSettings, predict
from covplan.inference.crop import CROP_MODES
from covplan.inference.model_loading import BACKENDS
from covplan.inference.outputs import VOLUME_FORMATS


@click.command(name="predict", cls=FoldsCommand)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="A NIfTI file, a PNG/JPG/DICOM slice, a folder of them, or a zip of DICOM files. A folder's "
                   "DICOM files: its axial CT series with the most slices is one volume (localizers, secondary "
                   "captures and non-CT series are skipped and logged); single-slice series are slices.")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: <case>.nii.gz (or .seg.dcm, .rtstruct.dcm) for volumes, <case>.png for slices.")
@click.option("-m", "--model", "model_folders", required=True, multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Trained model folder WORK/<arch>__<configuration>, or a model archive (.zip from `covplan "
                   "export`); repeat for a multi-architecture ensemble.")
@folds_option("Folds to ensemble: -f 0 1, -f 0,1 or all [default: every trained fold].")
@click.option("--previous-stage", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A cascade's first stage (WORK/<arch>__3d_lowres), for a -m <arch>__3d_cascade_fullres model "
                   "copied without it [default: the model folder beside the cascade's, as training and archives "
                   "lay them out].")
@checkpoint_option("Which checkpoint of each fold of a model folder (an archive holds the one it was exported with).")
@click.option("--tta/--no-tta", default=True, show_default=True, help="Mirroring test-time augmentation.")
@click.option("--fast", is_flag=True,
              help="No mirroring (8 passes a tile in 3D, 4 in 2D, become 1) and a quarter-patch overlap between tiles "
                   "instead of half; its speed and accuracy cost are measured in docs/predict.md.")
@click.option("--crop", type=click.Choice(CROP_MODES), default="body", show_default=True,
              help="body: predict inside the body's bounding box (threshold, largest component, 2 cm margin), "
                   "background outside; lung: inside the lungs' box (the lungs as `covplan report` derives them, "
                   "2 cm margin); none: the whole image.")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="torch: the plugin's torch networks; onnxruntime: the ONNX networks of an archive exported with "
                   "--onnx (CPU, no torch network, no plugin needed) [default: onnxruntime when every model carries "
                   "ONNX networks (and no slice classifier) and the device is the CPU, else torch].")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the networks [default: every core this process may use, at most OMP_NUM_THREADS].")
@click.option("--save-probabilities", is_flag=True,
              help="Also write <case>.npz (mean class probabilities) and <case>.pkl, for `covplan ensemble`.")
@click.option("--save-uncertainty", is_flag=True,
              help="Also write uncertainty/<case>_entropy.nii.gz, uncertainty/<case>_variance.nii.gz and "
                   "uncertainty_summary.json.")
@device_option("auto: CUDA (with mixed precision) when available, else CPU.")
@click.option("--overwrite", is_flag=True, help="Predict cases again whose outputs exist (kept otherwise).")
@click.option("--postprocess/--no-postprocess", default=True, show_default=True,
              help="Apply the post-processing `covplan find-best` chose on cross-validation and stored with the "
                   "model (or the ensemble); nothing to apply when find-best never ran.")
@click.option("--skip-negative/--no-skip-negative", default=True, show_default=True,
              help="With a single 2D model whose folds have slice classifiers (`covplan train-classifier`): "
                   "slices called lesion-free get an all-background label map without segmentation. Volumes "
                   "are always segmented.")
@click.option("--output-format", type=click.Choice(list(VOLUME_FORMATS)), default="nifti", show_default=True,
              help="Volumes' label maps: nifti; dicom-seg (a DICOM-SEG over the source series, segment per label) or "
                   "rtstruct (contours) for DICOM input; dicom-seg needs pip install 'covplan[dicom]'.")
@click.option("--series", "series_uid", metavar="UID",
              help="The SeriesInstanceUID of the DICOM series to segment [default: the axial CT series with the "
                   "most slices of each folder].")
def predict_command(input_path: Path, output_dir: Path, model_folders: tuple[Path, ...], folds: list[str] | None,
                    previous_stage: Path | None, checkpoint: str, tta: bool, fast: bool, crop: str, backend: str | None,
                    threads: int | None, save_probabilities: bool, save_uncertainty: bool, device: str, overwrite: bool,
                    postprocess: bool, skip_negative: bool, output_format: str, series_uid: str | None) -> None:
    """Segment new images with trained models, on each image's own grid.

    The members of the ensemble are the chosen folds of every -m model; their class
    probabilities are averaged on the input's grid. Inputs are read and put into the
    model's intensity domain as the converters do (HU becomes 8-bit grey for a grey
    model; a grey image is refused by an HU model). A case that cannot be predicted is
    reported and the others go on. A 2D model with slice classifiers skips the slices it
    calls lesion-free (--no-skip-negative segments them all). A cascade's second stage
    (<arch>__3d_cascade_fullres) runs its first stage on each image first, with the same
    folds and checkpoint; see docs/predict.md.

    \b
    Example:
        covplan predict -i scans/ -o predictions/ -m work/plain_unet__3d_fullres
        covplan predict -i scan.nii.gz -o out/ -m work/plain_unet__3d_fullres \\
            -m work/qchc_unet__3d_fullres --folds 0,1 --save-uncertainty
        covplan predict -i scans/ -o out/ -m lung_model.zip --fast
        covplan predict -i scans/ -o out/ -m lung_model.zip --backend torch
        covplan predict -i study.zip -o out/ -m lung_model.zip --output-format dicom-seg
        covplan predict -i scans/ -o out/ -m work/plain_unet__3d_cascade_fullres
    """
    settings = PredictionSettings(folds=folds, checkpoint=checkpoint, use_mirroring=tta,
                                  save_probabilities=save_probabilities, save_uncertainty=save_uncertainty,
                                  device=device, overwrite=overwrite, postprocess=postprocess,
                                  skip_negative=skip_negative, backend=backend, crop=crop, fast=fast,
                                  threads=threads, output_format=output_format, series_uid=series_uid,
                                  previous_stage=previous_stage)
    result = predict(input_path, output_dir, list(model_folders), settings)
    if result.written or result.kept:  # else the error below says it all
        click.echo(f"{len(result.written)} case(s) written to {output_dir}"
                   + (f", {len(result.kept)} kept (existing outputs; --overwrite predicts them again)" if result.kept
                      else ""))
    if result.classified:
        click.echo(f"{len(result.skipped)} of {len(result.classified)} slices called negative and skipped "
                   f"(slice_classification.json)")
    if result.failed:
        raise CovplanError(f"{len(result.failed)} case(s) not predicted: "
                           + "; ".join(f"{case}: {reason}" for case, reason in result.failed.items()))
