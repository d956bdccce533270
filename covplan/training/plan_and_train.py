"""A converted dataset in, planned, preprocessed, trained and cross-validated models out."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from covplan.training.evaluation import cross_validation_summary
from covplan.training.trainer import TrainingSettings, train_fold
from covplan.training.work_folder import Fold, load_training_inputs

logger = logging.getLogger(__name__)


def plan_and_train(dataset_dir: Path, work_dir: Path, architectures: Sequence[str], folds: Sequence[Fold] | None = None,
                   configuration: str | None = None, settings: TrainingSettings | None = None, resume: bool = False,
                   gpu_memory_gb: float | None = None, preset: str | None = None,
                   num_processes: int = 2) -> dict[str, dict[str, Any]]:
    """Plan ``dataset_dir`` for every architecture into ``work_dir``
    (:func:`covplan.planning.plan_dataset`), preprocess it, train each fold (default: every
    fold of the split) and return the cross-validation summary of each model folder
    (empty without evaluation or without numbered folds)."""
    from covplan.planning import plan_dataset
    from covplan.preprocessing import preprocess

    settings = settings or TrainingSettings()
    configurations = [configuration] if configuration else None
    plan_dataset(dataset_dir, work_dir, architectures, configurations=configurations, gpu_memory_gb=gpu_memory_gb,
                 preset=preset, num_processes=num_processes)
    preprocess(work_dir, architectures, configurations, num_processes)
    if folds is None:
        folds = list(range(len(json.loads((Path(work_dir) / "splits_final.json").read_text()))))
    summaries = {}
    for architecture in architectures:
        for fold in folds:
            logger.info("training %s fold %s", architecture, fold)
            train_fold(work_dir, architecture, fold, configuration, settings, resume=resume)
        model_folder = load_training_inputs(Path(work_dir), architecture, configuration).model_folder
        if settings.evaluate and any(isinstance(fold, int) for fold in folds):
            summaries[model_folder.name] = cross_validation_summary(model_folder)
    return summaries
