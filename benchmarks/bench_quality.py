"""Quality at equal budget: cross-validation of nnU-Net's 2d configuration (nnUNetTrainer) and
covplan's plain_unet and coarse_refine on the 50 real COVID-SemiSeg slices.

The slices are converted by covplan's ``slices`` converter into a temporary folder and
planned once (5 folds, patients = slices); every model trains the same number of epochs
and iterations per fold, validates the fold's slices with its own predictor (mirroring on
unless ``--no-mirroring``) and is scored on the same ground truth. Prints Dice per class
(GGO, consolidation) per fold and the mean over folds. Not a test: with a few hundred
iterations the figures are far from converged; compare them at equal budget only.

    python benchmarks/bench_quality.py --iterations 250 --folds 5 --device cuda
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from common import (SHARED_DATA, markdown_table, nnunet_trainer, planned_work, record, resolve_device,
                    run_in_scratch_folder)

COVPLAN_ARCHITECTURES = ("plain_unet", "coarse_refine")
NUM_SPLITS = 5
logger = logging.getLogger(__name__)


def train_nnunet_fold(work: Path, fold: int, device, epochs: int, iterations_per_epoch: int,
                      validation_iterations: int, mirroring: bool) -> Path:
    """Train and validate one fold with nnUNetTrainer; its model folder."""
    from covplan.nnunet_paths import nnunet_prints_to_log

    trainer = nnunet_trainer(work, "2d", fold, device)
    trainer.num_epochs, trainer.num_iterations_per_epoch = epochs, iterations_per_epoch
    trainer.num_val_iterations_per_epoch = validation_iterations
    with nnunet_prints_to_log(logger, "nnUNetTrainer"):
        trainer.run_training()
        if not mirroring:
            trainer.inference_allowed_mirroring_axes = None  # what its validation predictor mirrors
        trainer.perform_actual_validation()  # nnUNetv2_train's next call: predicts and scores the fold
    return Path(trainer.output_folder_base)


def class_dice(model_folder: Path, label_names: dict[str, str]) -> dict[str, dict[str, float | None]]:
    """Fold (and ``mean``) -> class name -> Dice, nnU-Net's label keys named by dataset.json."""
    from covplan.training.fold_validation import cross_validation_summary

    summary = cross_validation_summary(model_folder)
    rows = {**summary["folds"], "mean": summary["mean"]}
    return {fold: {label_names.get(key, key): value for key, value in dice.items()} for fold, dice in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="COVID-SemiSeg training slices (Imgs/, GT/).")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--iterations", type=int, default=250, help="Training iterations per fold, every model.")
    parser.add_argument("--iterations-per-epoch", type=int, default=50,
                        help="Epoch length: the learning-rate schedule steps once per epoch.")
    parser.add_argument("--validation-iterations", type=int, default=5, help="Pseudo-Dice batches per epoch.")
    parser.add_argument("--folds", type=int, default=NUM_SPLITS, help=f"How many of the {NUM_SPLITS} folds to run.")
    parser.add_argument("--workers", type=int, default=2, help="Augmentation workers of every trainer.")
    parser.add_argument("--architectures", nargs="+", default=list(COVPLAN_ARCHITECTURES),
                        help="covplan architectures beside nnU-Net.")
    parser.add_argument("--no-mirroring", dest="mirroring", action="store_false",
                        help="Validate every model without test-time mirroring (4 times fewer 2d forward passes).")
    parser.add_argument("--quick", action="store_true",
                        help="1 fold, 2 iterations, plain_unet only (coarse_refine predicts a slice in about a "
                             "minute on CPU): proves the harness.")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.folds, arguments.iterations, arguments.iterations_per_epoch, arguments.validation_iterations = \
            1, 2, 2, 1
        arguments.architectures = ["plain_unet"]
    if not (arguments.slices_dir / "Imgs").is_dir():
        print(f"bench_quality skipped: no COVID-SemiSeg slices in {arguments.slices_dir} (Imgs/ and GT/); "
              f"pass --slices-dir")
        return
    run_in_scratch_folder("bench_quality_", lambda root: run(arguments, root), arguments.workers)


def run(arguments: argparse.Namespace, root: Path) -> None:
    from covplan.conversion.base import get_converter
    from covplan.training import TrainingSettings, train_fold
    from covplan.training.inputs import load_training_inputs

    device = resolve_device(arguments.device)
    dataset = root / "dataset"
    get_converter("slices").convert(arguments.slices_dir, dataset)
    # nnUNetTrainer trains on the plain_unet plans, which are nnU-Net's.
    planned = list(dict.fromkeys(["plain_unet", *arguments.architectures]))
    work = planned_work(dataset, root / "work", planned, "2d", folds=NUM_SPLITS)
    epochs = max(1, math.ceil(arguments.iterations / arguments.iterations_per_epoch))
    iterations_per_epoch = min(arguments.iterations, arguments.iterations_per_epoch)
    folds = list(range(arguments.folds))
    settings = TrainingSettings(num_epochs=epochs, iterations_per_epoch=iterations_per_epoch,
                                validation_iterations=arguments.validation_iterations, device=device.type,
                                num_workers=arguments.workers, test_time_mirroring=arguments.mirroring)
    labels = json.loads((dataset / "dataset.json").read_text())["labels"]
    label_names = {str(value): name for name, value in labels.items()}
    classes = [name for name, value in labels.items() if value != 0]

    model_folders = {}
    for fold in folds:
        model_folders["nnU-Net 2d (nnUNetTrainer)"] = train_nnunet_fold(
            work, fold, device, epochs, iterations_per_epoch, arguments.validation_iterations, arguments.mirroring)
        for architecture in arguments.architectures:
            train_fold(work, architecture, fold, "2d", settings)
            model_folders[f"covplan {architecture}"] = load_training_inputs(work, architecture, "2d").model_folder
    rows = []
    for model, folder in model_folders.items():
        for fold, dice in class_dice(folder, label_names).items():
            values = [dice.get(name) for name in classes]
            rows.append([model, fold, *["-" if value is None else value for value in values]])
    plan = load_training_inputs(work, "plain_unet", "2d").plan
    record(f"Quality at equal budget: {len(folds)} of {NUM_SPLITS} folds, {epochs} x {iterations_per_epoch} "
           f"iterations, device {device.type}",
           markdown_table(["model", "fold", *[f"Dice {name}" for name in classes]], rows),
           notes=[f"data: the 50 COVID-SemiSeg slices ({arguments.slices_dir.name}), slices converter, 2d, "
                  f"plain_unet patch {plan['patch_size']} batch {plan['batch_size']}; validation "
                  f"{'with' if arguments.mirroring else 'without'} test-time mirroring",
                  "mean: over folds (a fold without a class in its slices counts no Dice for it)"])


if __name__ == "__main__":
    main()
