"""``covplan train``: one fold of one architecture on a planned, preprocessed WORK folder."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.training import TrainingSettings, cross_validation_summary, format_cross_validation_table, train_fold
from covplan.training.data import AUGMENTATIONS
from covplan.training.work_folder import load_training_inputs, parse_fold


@click.command(name="train")
@click.argument("work", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--arch", "architecture", required=True, help="Architecture plugin to train (see `covplan plugins`).")
@click.option("--fold", required=True, help="Fold of splits_final.json (0, 1, ...), or 'all' to train on every case.")
@click.option("--configuration", default=None,
              help="Plans configuration (2d, 3d_fullres, ...); default 3d_fullres when planned, else 2d.")
@click.option("--loss", default=None, help="Loss plugin; default the architecture's default loss.")
@click.option("--epochs", type=click.IntRange(min=1), default=1000, show_default=True, help="Number of epochs.")
@click.option("--iters-per-epoch", type=click.IntRange(min=1), default=250, show_default=True,
              help="Training batches per epoch.")
@click.option("--val-iters", type=click.IntRange(min=1), default=50, show_default=True,
              help="Validation batches per epoch (pseudo Dice, validation loss, early stopping).")
@click.option("--initial-lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Initial learning rate; default the architecture plugin's.")
@click.option("--augmentation", type=click.Choice(AUGMENTATIONS), default="nnunet", show_default=True,
              help="nnunet: nnU-Net's pipeline; p015: method A's p = 0.15 pipeline; rot_flip: method C's "
                   "quarter turns and flips.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CUDA when available, else CPU.")
@click.option("--resume", is_flag=True, help="Continue from the fold's checkpoint_latest.pth.")
@click.option("--seed", type=int, default=12345, show_default=True, help="Random seed.")
@click.option("--num-workers", type=click.IntRange(min=0), default=None,
              help="Background augmentation processes; 0 loads in the training process (bit-reproducible "
                   "resume); default nnU-Net's nnUNet_n_proc_DA, at most the cores less one.")
@click.option("--compile", "compile_network", is_flag=True, help="Compile the network with torch.compile.")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Predict the fold's validation cases after training and write validation/summary.json.")
@click.option("--tta/--no-tta", default=True, show_default=True,
              help="Mirroring test-time augmentation when predicting the validation cases.")
def train_command(work: Path, architecture: str, fold: str, configuration: str | None, loss: str | None,
                  epochs: int, iters_per_epoch: int, val_iters: int, initial_lr: float | None, augmentation: str,
                  device: str, resume: bool, seed: int, num_workers: int | None, compile_network: bool,
                  evaluate: bool, tta: bool) -> None:
    """Train one fold of an architecture on a planned and preprocessed WORK folder.

    Writes WORK/ARCH__CONFIGURATION/fold_F/: checkpoints (latest, best, final),
    training_log.csv, progress.png and validation/summary.json, then prints the
    cross-validation table of every evaluated fold. Start it with
    `torchrun --nproc-per-node N -m covplan train ...` to train on N processes.

    \b
    Example:
        covplan train work --arch plain_unet --fold 0 --epochs 5 --iters-per-epoch 20
    """
    settings = TrainingSettings(
        num_epochs=epochs, iterations_per_epoch=iters_per_epoch, validation_iterations=val_iters, loss=loss,
        initial_lr=initial_lr, augmentation=augmentation, num_workers=num_workers, seed=seed, device=device,
        compile=compile_network, evaluate=evaluate, test_time_mirroring=tta)
    summary = train_fold(work, architecture, parse_fold(fold), configuration, settings, resume=resume)
    if summary is None:
        return
    model_folder = load_training_inputs(work, architecture, configuration).model_folder
    click.echo(format_cross_validation_table(cross_validation_summary(model_folder), title=f"{model_folder.name}:"))
