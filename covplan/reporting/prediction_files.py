"""What ``covplan report`` reads from a folder of predictions: the label maps and nnU-Net's
reader for them, the identifiers DICOM-SEG predictions carry, and the side files ``covplan
predict`` writes beside them (the uncertainty summary and maps, the slice classification)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter

from covplan.errors import CovplanError
from covplan.inference.predict import uncertainty_files
from covplan.inference.slice_skipping import SLICE_CLASSIFICATION_FILE
from covplan.inference.uncertainty import UNCERTAINTY_SUMMARY
from covplan.json_files import read_json
from covplan.labels.dicom_seg import dicom_identifiers
from covplan.labels.files import DICOM_SEG_ENDING, case_files, file_ending_of, label_map_reader


@dataclass
class LabelMapFolder:
    """The label maps of a folder and the nnU-Net reader for them."""

    files: dict[str, Path]
    reader: BaseReaderWriter

    @classmethod
    def open(cls, folder: Path, dataset_json: Mapping[str, Any] | None = None) -> LabelMapFolder:
        file_ending = (dataset_json or {}).get("file_ending") or file_ending_of(folder)
        files = case_files(folder, file_ending)
        if not files:
            raise CovplanError(f"{folder}: no label maps ending in {file_ending}")
        return cls(files, label_map_reader(next(iter(files.values())), file_ending, dataset_json))


def dicom_seg_identifiers(predictions: LabelMapFolder) -> dict[str, dict[str, str]]:
    """The patient and study identifiers each DICOM-SEG prediction carries (none for other formats)."""
    return {case_id: dicom_identifiers(path) for case_id, path in predictions.files.items()
            if path.name.endswith(DICOM_SEG_ENDING)}


def case_uncertainty(prediction_dir: Path) -> dict[str, float | None]:
    """Per case, the mean ensemble uncertainty inside its predicted lesions, from the
    ``uncertainty_summary.json`` that ``covplan predict --save-uncertainty`` writes; empty
    when it was not asked for."""
    path = prediction_dir / UNCERTAINTY_SUMMARY
    if not path.is_file():
        return {}
    try:
        cases = read_json(path, "predict again with --save-uncertainty --overwrite")["cases"]
        return {case_id: entry["mean_entropy_in_lesions"] for case_id, entry in cases.items()}
    except (ValueError, KeyError, TypeError) as error:
        raise CovplanError(f"{path}: not an uncertainty summary of covplan predict ({error}); "
                           "predict again with --save-uncertainty --overwrite") from error


def entropy_map(prediction_dir: Path, case_id: str, expected_shape: tuple[int, ...]) -> np.ndarray | None:
    """The ensemble's predictive entropy of a case as a (z, y, x) array, where
    ``covplan predict --save-uncertainty`` saved one; None where it did not."""
    path = uncertainty_files(prediction_dir, case_id)[0]
    if not path.is_file():
        return None
    entropy = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    entropy = entropy.reshape((1, *entropy.shape)) if entropy.ndim == 2 else entropy
    if entropy.shape != expected_shape:
        raise CovplanError(f"{path}: uncertainty map of shape {entropy.shape} differs from its prediction "
                           f"{expected_shape}; predict again with --save-uncertainty --overwrite")
    return entropy


def skipped_slices(prediction_dir: Path) -> dict[str, Any] | None:
    """How many slices the coarse-refine slice classifier called lesion-free, so that
    predict skipped them (``slice_classification.json``); None when no classifier ran."""
    path = prediction_dir / SLICE_CLASSIFICATION_FILE
    if not path.is_file():
        return None
    try:
        cases = read_json(path, "predict again with --overwrite")["cases"]
        skipped = sorted(case_id for case_id, decision in cases.items() if decision["skipped"])
    except (ValueError, KeyError, TypeError) as error:
        raise CovplanError(f"{path}: not a slice classification of covplan predict ({error}); "
                           "predict again with --overwrite") from error
    return {"classified": len(cases), "skipped": len(skipped), "skipped_cases": skipped}
