"""The labelled cases predicted by the folds that held them out: the evidence on which
the pseudo-labels' threshold is chosen. Only these predictions are honest about the
models' errors: every other fold saw the case in training."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from covplan.conversion.raw_dataset import RawDataset
from covplan.errors import CovplanError
from covplan.inference.model_loading import available_folds
from covplan.inference.predict import PredictionSettings, predict
from covplan.json_files import read_json
from covplan.pseudo_labelling.predictions import read_label_file, read_prediction
from covplan.pseudo_labelling.threshold import KeptVoxelCounts
from covplan.work_folder import CHECKPOINTS, splits_path

logger = logging.getLogger(__name__)

FIX_MODELS = ("give model folders inside the WORK folder they were trained in (WORK/<arch>__<configuration>), "
              "trained with cross-validation folds")


def held_out_cases(model_folders: list[Path], checkpoint: str, dataset: RawDataset) -> dict[int, list[str]]:
    """Fold -> its validation cases, for every numbered fold that each model has trained,
    from the one split (``splits_final.json`` of the models' WORK) they share. Models
    without one, with different ones, or trained on another dataset are refused."""
    split, split_file = None, None
    for folder in model_folders:
        path = splits_path(Path(folder).parent)
        if not path.is_file():
            raise CovplanError(f"{folder}: no {path.name} beside it, so no cross-validation predictions to choose "
                               f"the threshold on; {FIX_MODELS}")
        found = read_json(path, "plan the dataset again")
        if split is not None and found != split:
            raise CovplanError(f"{path} and {split_file} split the cases differently; pseudo-label with models of "
                               f"one WORK folder (one split), so that each case is held out by one fold")
        split, split_file = found, path
    unknown = sorted({case for fold in split for case in fold["val"]} - set(dataset.case_ids))
    if unknown:
        raise CovplanError(f"{split_file} names case {unknown[0]}, which {dataset.folder} does not hold; give "
                           f"--dataset the labelled dataset the models were trained on")
    trained = set.intersection(*({fold for fold in available_folds(Path(folder), CHECKPOINTS[checkpoint])
                                  if isinstance(fold, int)} for folder in model_folders))
    if not trained:
        raise CovplanError(f"{', '.join(map(str, model_folders))}: no cross-validation fold (fold_0, fold_1, ...) "
                           f"trained by every model, only fold_all or none; {FIX_MODELS}")
    return {fold: sorted(split[fold]["val"]) for fold in sorted(trained)}


def _case_images(dataset: RawDataset, case_id: str) -> list[Path]:
    ending = dataset.dataset_json["file_ending"]
    return sorted((dataset.folder / "imagesTr").glob(f"{case_id}_[0-9][0-9][0-9][0-9]{ending}"))


def count_held_out_voxels(model_folders: list[Path], folds: dict[int, list[str]], dataset: RawDataset,
                          scratch: Path, settings: PredictionSettings, class_values: list[int],
                          ignore_label: int | None) -> KeptVoxelCounts:
    """Predict each fold's validation cases with that fold of every model (``covplan
    predict`` with ``--save-uncertainty`` into ``scratch``) and count their voxels by
    entropy, prediction and truth."""
    counts = KeptVoxelCounts(class_values)
    ending = dataset.dataset_json["file_ending"]
    for fold, cases in folds.items():
        images = scratch / f"fold_{fold}_images"
        images.mkdir(parents=True)
        for case_id in cases:
            for path in _case_images(dataset, case_id):
                (images / path.name).symlink_to(path.resolve())
        output = scratch / f"fold_{fold}_predictions"
        result = predict(images, output, model_folders, replace(settings, folds=[fold], save_uncertainty=True))
        if result.failed:
            case_id, reason = next(iter(result.failed.items()))
            raise CovplanError(f"cross-validation case {case_id} could not be predicted: {reason}")
        for case_id in cases:
            predicted, entropy = read_prediction(output, case_id, "nifti")
            truth = read_label_file(dataset.folder / "labelsTr" / f"{case_id}{ending}")
            counts.add(entropy, predicted, truth, ignore_label)
        logger.info("fold %s: %d held-out case(s) predicted for the threshold", fold, len(cases))
    return counts
