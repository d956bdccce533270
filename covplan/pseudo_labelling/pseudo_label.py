"""``covplan pseudo-label`` as a function: the threshold chosen on the models'
cross-validation predictions of the labelled cases, the unlabelled images predicted by
the whole ensemble, and the new raw dataset written whole or not at all.

Every voxel of an unlabelled image keeps the ensemble's label where the predictive
entropy of the ensemble's mean probabilities is at most the threshold, and gets nnU-Net's
ignore label elsewhere, so that training learns from the sure voxels only. The threshold
is chosen on single held-out folds (the only honest predictions of labelled cases); the
ensemble's mean over every fold is at least as sure where its members agree and less sure
where they disagree, so the voxels it keeps are, if anything, more often right."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from covplan.conversion.output import atomic_output_dir, check_output_dir
from covplan.conversion.raw_dataset import RawDataset, read_raw_dataset
from covplan.errors import CovplanError
from covplan.inference.inputs import InputCase, find_cases, read_case
from covplan.inference.predict import PredictionSettings, predict
from covplan.labels.roles import label_roles
from covplan.pseudo_labelling.dataset_files import (
    NIFTI_ENDING,
    copy_labelled_cases,
    pseudo_labelled_labels,
    write_descriptions,
    write_pseudo_case,
)
from covplan.pseudo_labelling.held_out import count_held_out_voxels, held_out_cases
from covplan.pseudo_labelling.predictions import read_prediction
from covplan.pseudo_labelling.threshold import ThresholdChoice, choose_threshold

logger = logging.getLogger(__name__)

PSEUDO_CASE_PREFIX = "pseudo_"
DEFAULT_TARGET_PRECISION = 0.95


@dataclass(frozen=True)
class PseudoLabelSettings:
    target_precision: float = DEFAULT_TARGET_PRECISION  # the kept CV voxels' per-class agreement with the truth
    checkpoint: str = "final"  # or "best"
    device: str = "auto"
    fast: bool = False  # covplan predict --fast, for the held-out and the unlabelled predictions alike
    threads: int | None = None

    def prediction(self) -> PredictionSettings:
        # Uncertainty needs every slice segmented, so the slice classifier is not used.
        return PredictionSettings(checkpoint=self.checkpoint, device=self.device, fast=self.fast,
                                  threads=self.threads, save_uncertainty=True)


@dataclass
class PseudoLabelResult:
    output_dir: Path
    choice: ThresholdChoice
    pseudo_labelled: dict[str, float] = field(default_factory=dict)  # case -> fraction of its voxels kept
    failed: dict[str, str] = field(default_factory=dict)  # unlabelled case -> one-line reason


def _check_labelled(dataset: RawDataset) -> None:
    roles = label_roles(dataset.dataset_json)
    if roles.regions:
        raise CovplanError(f"{dataset.dataset_json_path}: region-based labels; pseudo-label keeps or ignores each "
                           f"voxel's one label, so give a dataset of plain labels")
    if dataset.dataset_json.get("file_ending") != NIFTI_ENDING:
        raise CovplanError(f"{dataset.dataset_json_path}: file_ending {dataset.dataset_json.get('file_ending')!r}; "
                           f"pseudo-label adds NIfTI cases, so give a dataset in {NIFTI_ENDING} (`covplan convert` "
                           f"writes one)")


def _check_output(output_dir: Path, *sources: Path) -> Path:
    for source in sources:
        check_output_dir(output_dir, source)
    return check_output_dir(output_dir)


def pseudo_label(model_folders: list[Path], unlabelled_dir: Path, labelled_dir: Path, output_dir: Path,
                 settings: PseudoLabelSettings | None = None) -> PseudoLabelResult:
    """Write ``output_dir``: the raw dataset ``labelled_dir`` plus every image of
    ``unlabelled_dir`` pseudo-labelled by the ensemble of ``model_folders`` (each case
    named ``pseudo_<case>``). Every input is checked before any prediction; nothing of the
    inputs is changed."""
    settings = settings or PseudoLabelSettings()
    model_folders = [Path(folder) for folder in model_folders]
    dataset = read_raw_dataset(labelled_dir)
    _check_labelled(dataset)
    output_dir = _check_output(Path(output_dir), Path(labelled_dir), Path(unlabelled_dir))
    folds = held_out_cases(model_folders, settings.checkpoint, dataset)
    cases = find_cases(Path(unlabelled_dir))
    taken = sorted(set(dataset.case_ids) & {PSEUDO_CASE_PREFIX + case.case_id for case in cases})
    if taken:
        raise CovplanError(f"{dataset.folder} already holds a case {taken[0]}; pseudo-label a dataset that has no "
                           f"cases named {PSEUDO_CASE_PREFIX}*")
    labels = pseudo_labelled_labels(dataset)
    class_values = sorted(value for name, value in labels.items() if name != "ignore")
    names = {value: name for name, value in labels.items()}
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir.parent, prefix=".covplan-pseudo-label-") as scratch_name:
        scratch = Path(scratch_name)
        counts = count_held_out_voxels(model_folders, folds, dataset, scratch / "held_out", settings.prediction(),
                                       class_values, dataset.dataset_json["labels"].get("ignore"))
        choice = choose_threshold(counts, settings.target_precision, names)
        logger.info("threshold: entropy %.4g nats keeps %.1f%% of the cross-validation voxels, per-class agreement %s",
                    choice.threshold, 100 * choice.kept_fraction, choice.agreement)
        predictions = scratch / "unlabelled"
        predicted = predict(Path(unlabelled_dir), predictions, model_folders, settings.prediction())
        result = PseudoLabelResult(output_dir, choice, failed=dict(predicted.failed))
        if not predicted.written:
            raise CovplanError(f"{unlabelled_dir}: no image could be predicted ({len(predicted.failed)} failed: "
                               f"{next(iter(predicted.failed.values()), 'none found')})")
        with atomic_output_dir(output_dir) as staging:
            copy_labelled_cases(dataset, staging)
            entries = {}
            for case in cases:
                if case.case_id not in predicted.written:
                    continue
                case_id = PSEUDO_CASE_PREFIX + case.case_id
                kept, entries[case_id] = _write_case(staging, case, case_id, predictions, choice.threshold,
                                                     labels["ignore"], dataset, model_folders[0])
                result.pseudo_labelled[case_id] = kept
            write_descriptions(staging, dataset, entries, _provenance(model_folders, unlabelled_dir, dataset, folds,
                                                                      choice, settings, result))
    return result


def _write_case(staging: Path, case: InputCase, case_id: str, predictions: Path, threshold: float, ignore_value: int,
                dataset: RawDataset, model_folder: Path) -> tuple[float, dict]:
    """One pseudo-labelled case written; its kept fraction and its covplan_dataset.json entry."""
    predicted, entropy = read_prediction(predictions, case.case_id, "png" if case.kind == "slice" else "nifti")
    pseudo_labels = np.where(entropy > threshold, ignore_value, predicted)
    domain = (dataset.covplan_dataset or {}).get("intensity_domain")
    write_pseudo_case(staging, case_id, read_case(case, domain, model_folder), pseudo_labels)
    kept = round(float((entropy <= threshold).mean()), 6)
    return kept, {"source_files": {"image": [str(path.absolute()) for path in case.files]}, "kept_fraction": kept}


def _provenance(model_folders: list[Path], unlabelled_dir: Path, dataset: RawDataset, folds: dict[int, list[str]],
                choice: ThresholdChoice, settings: PseudoLabelSettings, result: PseudoLabelResult) -> dict:
    return {"format_version": 1, "models": [str(folder.absolute()) for folder in model_folders],
            "checkpoint": settings.checkpoint, "labelled_dataset": str(dataset.folder.absolute()),
            "unlabelled_dir": str(Path(unlabelled_dir).absolute()),
            "rule": "largest predictive entropy (nats) of the ensemble's mean probabilities at which the kept "
                    "cross-validation voxels' precision and recall reach target_precision for every class",
            **choice.record(), "cv_folds": {str(fold): cases for fold, cases in folds.items()},
            "cases": sorted(result.pseudo_labelled), "failed": result.failed}
