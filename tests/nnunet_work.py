"""Builds tiny WORK folders for training tests with nnunetv2's own pipeline (fingerprint,
ExperimentPlanner, DefaultPreprocessor), the layout `covplan plan --preprocess` writes.

Run as ``python -m tests.nnunet_work ROOT`` from the repository root: nnunetv2 reads its folders from environment
variables when it is imported, so the pipeline runs in a process of its own. Writes
``ROOT/work3d`` (6 volumes 24x32x32, a bright sphere = class 1, configuration 3d_fullres)
and ``ROOT/work2d`` (6 slices 40x40, a bright disc = class 1, configuration 2d), each with
``plans_plain_unet.json`` shrunk to a network that trains in seconds on a CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from tests.helpers import BALL, write_raw_dataset

NUM_CASES = 6
PLANS_NAME = "plans_plain_unet"
# Training settings that fit the shrunk plans: a few seconds per fold on a CPU.
TRAINED_EPOCHS = 4
TINY_TRAINING = dict(iterations_per_epoch=10, validation_iterations=2, num_workers=0, test_time_mirroring=False)
DATASETS = {  # dataset id: (name, image shape (z, y, x), configuration, shrunk patch size)
    1: ("Dataset001_Sphere", (24, 32, 32), "3d_fullres", [16, 16, 16]),
    2: ("Dataset002_Disc", (1, 40, 40), "2d", [32, 32]),
}


def shrink_plan(plans: dict, configuration: str, patch_size: list[int]) -> None:
    """A 3-stage network with 4 to 16 features: one training step takes milliseconds."""
    plan = plans["configurations"][configuration]
    dims = len(patch_size)
    plan["patch_size"] = patch_size
    plan["batch_size"] = 2
    plan["architecture"]["arch_kwargs"].update(
        n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=[[3] * dims] * 3,
        strides=[[1] * dims, [2] * dims, [2] * dims], n_conv_per_stage=[1, 1, 1], n_conv_per_stage_decoder=[1, 1],
    )
    plans["configurations"] = {configuration: plan}
    plans["covplan"] = {"architecture": "plain_unet"}


def build(root: Path) -> None:
    os.environ["nnUNet_raw"] = str(root / "raw")
    os.environ["nnUNet_preprocessed"] = str(root / "preprocessed")
    os.environ["nnUNet_results"] = str(root / "results")
    import multiprocessing.dummy
    from types import SimpleNamespace

    from nnunetv2.experiment_planning.dataset_fingerprint import fingerprint_extractor
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset, plan_experiment_dataset, preprocess_dataset,
    )
    from nnunetv2.preprocessing.preprocessors import default_preprocessor
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    # Six tiny cases do not repay starting worker processes (seconds each on a shared
    # machine): nnU-Net's pools run as threads here.
    threads = SimpleNamespace(get_context=lambda method: SimpleNamespace(Pool=multiprocessing.dummy.Pool))
    fingerprint_extractor.multiprocessing = default_preprocessor.multiprocessing = threads

    for dataset_id, (name, shape, configuration, patch_size) in DATASETS.items():
        write_raw_dataset(root / "raw" / name, NUM_CASES, shape, spacing_xyz=(1.0, 1.0, 1.0), seed=dataset_id,
                          phantom=BALL)
        extract_fingerprint_dataset(dataset_id, num_processes=1, verbose=False, show_progress_bar=False)
        plan_experiment_dataset(dataset_id, overwrite_plans_name=PLANS_NAME)
        preprocessed = root / "preprocessed" / name
        plans_file = preprocessed / f"{PLANS_NAME}.json"
        plans = json.loads(plans_file.read_text())
        shrink_plan(plans, configuration, patch_size)
        plans_file.write_text(json.dumps(plans, indent=2))
        preprocess_dataset(dataset_id, PLANS_NAME, [configuration], [1], show_progress_bar=False)
        identifiers = sorted(f"case_{case:03d}" for case in range(NUM_CASES))
        (preprocessed / "splits_final.json").write_text(json.dumps(generate_crossval_split(identifiers, n_splits=5)))
        shutil.move(preprocessed, root / ("work3d" if configuration == "3d_fullres" else "work2d"))


if __name__ == "__main__":
    build(Path(sys.argv[1]))
