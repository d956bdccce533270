"""Write a tiny work folder to try `covplan find-best` on, as the trainer leaves it:
references in ``WORK/gt_segmentations`` and, per model ``WORK/<arch>__3d_fullres``,
plans.json, dataset.json and ``fold_F/validation`` with predictions, summary.json and optionally probabilities (.npz +
.pkl, as nnU-Net's --npz writes them). The predictions carry known errors that
post-processing can or cannot repair. Usage: python docs/examples/tiny_work.py WORK"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

from covplan.evaluation import evaluate_folder

LABELS = {"background": 0, "lung": 1, "infection": 2}
DATASET_JSON = {"labels": LABELS, "file_ending": ".nii.gz", "numTraining": 4, "channel_names": {"0": "CT"}}
PLANS = {"dataset_name": "Dataset001_Tiny", "plans_name": "covplanPlans", "image_reader_writer": "SimpleITKIO",
         "label_manager": "LabelManager",
         "configurations": {}}
SHAPE = (8, 20, 28)
CASES = ("case_0", "case_1", "case_2", "case_3")
FOLDS = {0: ("case_0", "case_1"), 1: ("case_2", "case_3")}


def write_nifti(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return path


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2))


def reference(case_index: int) -> np.ndarray:
    """Two separate lungs (one label) with a 2x3x3 lesion in each; the left lung holds an
    enclosed air pocket (a true hole)."""
    segmentation = np.zeros(SHAPE, np.uint8)
    segmentation[1:7, 3:17, 2:12] = 1
    segmentation[1:7, 3:17, 15:25] = 1
    segmentation[3, 9, 6] = 0
    segmentation[2:4, 5 + case_index:8 + case_index, 4:7] = 2
    segmentation[3:5, 10:13, 18 + case_index:21 + case_index] = 2
    return segmentation


def good_prediction(case_index: int) -> np.ndarray:
    """The reference with lesion specks in the air (outside the lung) and inside the lung."""
    segmentation = reference(case_index)
    segmentation[0, 0, 0] = segmentation[7, 19, 27] = segmentation[0, 19, 13] = 2
    segmentation[5, 14, 9] = segmentation[2, 15, 20] = 2
    return segmentation


def weak_prediction(case_index: int) -> np.ndarray:
    """The good prediction without the lesion of the right lung."""
    segmentation = good_prediction(case_index)
    segmentation[3:5, 10:13, 18 + case_index:21 + case_index] = 1
    return segmentation


def _probabilities(segmentation: np.ndarray, confidence: float) -> np.ndarray:
    classes = len(LABELS)
    one_hot = np.eye(classes, dtype=np.float32)[segmentation].transpose(3, 0, 1, 2)
    return one_hot * confidence + (1 - confidence) / classes


def build_work_folder(work_dir: Path, models: dict[str, float | None]) -> Path:
    """``models``: architecture -> confidence of its saved probabilities (``None``: no .npz).
    ``good`` in the name gives the good predictions, otherwise the weak ones."""
    for index, case_id in enumerate(CASES):
        write_nifti(work_dir / "gt_segmentations" / f"{case_id}.nii.gz", reference(index))
    for architecture, confidence in models.items():
        model_dir = work_dir / f"{architecture}__3d_fullres"
        write_json(model_dir / "dataset.json", DATASET_JSON)
        write_json(model_dir / "plans.json", PLANS)
        predict = good_prediction if "good" in architecture else weak_prediction
        for fold, case_ids in FOLDS.items():
            validation = model_dir / f"fold_{fold}" / "validation"
            for case_id in case_ids:
                prediction = predict(CASES.index(case_id))
                path = write_nifti(validation / f"{case_id}.nii.gz", prediction)
                if confidence is not None:
                    np.savez_compressed(validation / f"{case_id}.npz",
                                        probabilities=_probabilities(prediction, confidence))
                    properties = SimpleITKIO().read_seg(str(path))[1]
                    (validation / f"{case_id}.pkl").write_bytes(pickle.dumps(properties))
            evaluate_folder(work_dir / "gt_segmentations", validation, validation / "summary.json",
                            dataset_json=DATASET_JSON, num_processes=1, allow_missing_predictions=True)
    return work_dir


if __name__ == "__main__":
    build_work_folder(Path(sys.argv[1]), {"good_unet": 0.8, "weak_unet": 0.6})
