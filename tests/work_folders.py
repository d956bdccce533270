"""Every WORK folder the tests use is built here, from the raw datasets of tests/raw_datasets.py:

- :func:`build_preprocessed_works`: tiny WORK folders planned and preprocessed by nnunetv2's
  own pipeline (fingerprint, ExperimentPlanner, DefaultPreprocessor), the layout
  `covplan plan --preprocess` writes, with plans shrunk to a network that trains in
  seconds on a CPU. ``ROOT/work3d``: 6 volumes 24x32x32, a bright sphere = class 1,
  configuration 3d_fullres; ``ROOT/work2d``: 6 slices 40x40, a bright disc = class 1,
  configuration 2d; ``ROOT/raw``: their raw datasets. nnunetv2 reads its folders from
  environment variables when it is imported, so the pipeline runs in a process of its own,
  started by :func:`run_preprocessed_works_build` (``python -m tests.nnunet_work ROOT``, as
  the docs show it).
- :func:`plan_tiny_work`: covplan's own planning and preprocessing of a raw dataset, with
  the same shrunk network (for label kinds nnU-Net's planner is not given).
- :func:`coarse_refine_work`: a copy of ``work2d`` planned for coarse_refine, with two
  lesion-free cases.
- :func:`build_validated_work`: a WORK folder as training leaves it for `covplan find-best`
  (references, validation predictions and probabilities, no networks), written by
  docs/examples/tiny_work.py (``VALIDATED_*`` and ``validated_*`` are its cases and arrays).
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing.dummy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from nnunetv2.experiment_planning.dataset_fingerprint import fingerprint_extractor
from nnunetv2.experiment_planning.plan_and_preprocess_api import (
    extract_fingerprint_dataset, plan_experiment_dataset, preprocess_dataset,
)
from nnunetv2.preprocessing.preprocessors import default_preprocessor
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
from nnunetv2.utilities.crossval_split import generate_crossval_split

from covplan.planning import plan_dataset
from covplan.preprocessing import preprocess
from tests.paths import REPO_ROOT
from tests.raw_datasets import BALL, write_raw_dataset

NUM_CASES = 6
PLANS_NAME = "plans_plain_unet"
# Training settings that fit the shrunk plans: a few seconds per fold on a CPU.
TRAINED_EPOCHS = 4
TINY_TRAINING = dict(iterations_per_epoch=10, validation_iterations=2, num_workers=0, test_time_mirroring=False)
DATASETS = {  # dataset id: (name, image shape (z, y, x), configuration, shrunk patch size)
    1: ("Dataset001_Sphere", (24, 32, 32), "3d_fullres", [16, 16, 16]),
    2: ("Dataset002_Disc", (1, 40, 40), "2d", [32, 32]),
}

# The coarse_refine WORK folder of the slice classifier's tests, and its training: a
# segmentation that has learnt the discs, then a head that separates them in a few hundred steps.
LESION_FREE_CASES = ("case_000", "case_001")
SEGMENTATION_EPOCHS = 8
CLASSIFIER_ITERATIONS = 300
CLASSIFIER_LEARNING_RATE = 3e-2
# coarse_refine's paper width 64 is too slow on two CPU cores; width 8 keeps every stage,
# block, ASPP branch and refinement stage of the design.
TEST_BASE_WIDTH = 8
TEST_FEATURES_PER_STAGE = [TEST_BASE_WIDTH * 2**stage for stage in range(4)]


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


def shrink_plans_file(plans_file: Path, configuration: str, patch_size: list[int]) -> None:
    plans = json.loads(plans_file.read_text())
    shrink_plan(plans, configuration, patch_size)
    plans_file.write_text(json.dumps(plans, indent=2))


def run_preprocessed_works_build(root: Path) -> None:
    """:func:`build_preprocessed_works` of ``root`` in a process of its own, whose environment
    points nnunetv2 at ``root`` before it is imported."""
    root = Path(root).resolve()
    environment = {**os.environ, "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "preprocessed"),
                   "nnUNet_results": str(root / "results")}
    subprocess.run([sys.executable, "-m", "tests.work_folders", str(root)], cwd=REPO_ROOT, env=environment,
                   check=True)


def build_preprocessed_works(root: Path) -> None:
    """``root/work3d`` and ``root/work2d`` (see the module's docstring), in a process whose
    nnUNet_raw and nnUNet_preprocessed are ``root/raw`` and ``root/preprocessed``."""
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
        shrink_plans_file(preprocessed / f"{PLANS_NAME}.json", configuration, patch_size)
        preprocess_dataset(dataset_id, PLANS_NAME, [configuration], [1], show_progress_bar=False)
        identifiers = sorted(f"case_{case:03d}" for case in range(NUM_CASES))
        (preprocessed / "splits_final.json").write_text(json.dumps(generate_crossval_split(identifiers, n_splits=5)))
        shutil.move(preprocessed, root / ("work3d" if configuration == "3d_fullres" else "work2d"))


def plan_tiny_work(raw: Path, work: Path, configuration: str, patch_size: list[int], num_folds: int) -> Path:
    """``raw`` planned (plain_unet, ``configuration`` only) and preprocessed by covplan into
    ``work``, its network shrunk as :func:`shrink_plan` does."""
    plan_dataset(raw, work, ["plain_unet"], configurations=[configuration], num_folds=num_folds, num_processes=1)
    shrink_plans_file(work / f"{PLANS_NAME}.json", configuration, patch_size)
    preprocess(work, ["plain_unet"], [configuration], 1)
    return work


def blank_case(preprocessed: Path, identifier: str, seed: int) -> None:
    """Replace a preprocessed case by noise without a lesion (nnU-Net's own writer), z-scored as
    nnU-Net normalises a lesion-free CT-less image."""
    data, seg, _, properties = nnUNetDatasetBlosc2(str(preprocessed), [identifier]).load_case(identifier)
    noise = np.random.default_rng(seed).normal(0, 1, data.shape).astype(np.float32)
    properties["class_locations"] = {label: np.zeros((0, 4), dtype=np.int64) for label in properties["class_locations"]}
    for suffix in (".b2nd", "_seg.b2nd", ".pkl"):
        (preprocessed / f"{identifier}{suffix}").unlink()
    nnUNetDatasetBlosc2.save_case(noise, np.zeros(seg.shape, dtype=np.int8), properties, str(preprocessed / identifier),
                                  chunks=data.shape, blocks=data.shape)


def coarse_refine_work(disc_work: Path, target: Path) -> Path:
    """A copy of ``work2d`` with lesion-free cases and ``plans_coarse_refine.json``."""
    work = Path(shutil.copytree(disc_work, target))
    plans = json.loads((work / f"{PLANS_NAME}.json").read_text())
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["features_per_stage"] = TEST_FEATURES_PER_STAGE
    plans["covplan"] = {"architecture": "coarse_refine"}
    (work / "plans_coarse_refine.json").write_text(json.dumps(plans, indent=2))
    preprocessed = work / plans["configurations"]["2d"]["data_identifier"]
    for seed, identifier in enumerate(LESION_FREE_CASES):
        blank_case(preprocessed, identifier, seed)
    return work


def _load_docs_example(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "docs" / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tiny_work = _load_docs_example("tiny_work")
build_validated_work = _tiny_work.build_work_folder
VALIDATED_CASES, VALIDATED_DATASET_JSON = _tiny_work.CASES, _tiny_work.DATASET_JSON
validated_reference, validated_good_prediction = _tiny_work.reference, _tiny_work.good_prediction


if __name__ == "__main__":
    build_preprocessed_works(Path(sys.argv[1]))
