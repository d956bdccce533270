"""``covplan export``: trained models as one archive that predicts anywhere covplan runs."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import FoldsCommand, checkpoint_option, folds_option
from covplan.export import export_archive
from covplan.inference.predict import available_cores
from covplan.work_folder import Fold


@click.command(name="export", cls=FoldsCommand)
@click.argument("model_folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The archive to write, NAME.zip.")
@folds_option("Folds to ship: -f 0 1, -f 0,1 or all [default: every trained fold].")
@checkpoint_option("Which checkpoint of each fold.")
@click.option("--onnx", is_flag=True,
              help="Also export each fold's network as ONNX, checked against torch on a random patch; "
                   "`covplan predict` then runs them with ONNX Runtime on CPU by default.")
@click.option("--int8", is_flag=True,
              help="With --onnx: quantize the ONNX networks to int8 (static, QDQ), calibrated on tiles of the "
                   "training cases preprocessed in WORK; refused when their labels agree with float32's below Dice "
                   "0.99 for a class on those tiles.")
@click.option("--overwrite", is_flag=True, help="Replace an existing archive.")
def export_command(model_folders: tuple[Path, ...], target: Path, folds: list[Fold] | None, checkpoint: str,
                   onnx: bool, int8: bool, overwrite: bool) -> None:
    """Write trained models, their plans and everything prediction needs to one archive.

    The archive holds each model's chosen folds and checkpoint, plans, dataset.json,
    intensity domain, labels, the post-processing find-best chose, slice classifiers,
    the plugin distributions and versions each model needs, checksums and a model card
    (MODEL_CARD.md: training data, cross-validation table, versions). Several models
    make one archive that predicts as their ensemble. `covplan predict -m NAME.zip`
    predicts from it; `covplan import NAME.zip DIR` unpacks it.

    \b
    Example:
        covplan export work/qchc_unet__3d_fullres -o lung_model.zip --onnx
        covplan export work/qchc_unet__3d_fullres -o lung_model_int8.zip --onnx --int8
        covplan export work/plain_unet__2d work/qchc_unet__2d -o ensemble.zip --folds 0,1
        covplan predict -i scans/ -o out/ -m lung_model.zip
    """
    manifest = export_archive(list(model_folders), target, folds, checkpoint, onnx, overwrite, available_cores(), int8)
    members = sum(len(entry["folds"]) for entry in manifest["models"])
    click.echo(f"{target}: {len(manifest['models'])} model(s), {members} fold network(s), {target.stat().st_size / 2**20:.1f} MiB")
    for entry in manifest["models"]:
        if "onnx" in entry:
            differences = ", ".join(f"fold {fold}: {value:.2g}" for fold, value in entry["onnx"].items())
            click.echo(f"  {entry['folder']} ONNX vs torch, largest absolute logit difference: {differences}")
        for fold, dice in entry.get("onnx_int8_dice", {}).items():
            click.echo(f"  {entry['folder']} fold {fold} int8 vs float32 labels, Dice: "
                       + ", ".join(f"{name} {value:.4f}" for name, value in dice.items()))
