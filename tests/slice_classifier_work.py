"""A tiny 2D WORK folder for the slice classifier: the bright discs of ``work2d`` with two
training cases made lesion-free, planned for coarse_refine at the test width, and fold 0
trained briefly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

LESION_FREE_CASES = ("case_000", "case_001")
SEGMENTATION_EPOCHS = 8  # an encoder that has learnt the discs: the head then separates them in a few steps
CLASSIFIER_ITERATIONS = 300
CLASSIFIER_LEARNING_RATE = 3e-2  # a few hundred steps must do
# coarse_refine's paper width 64 is too slow on a CPU; 8 keeps every stage of the design.
TEST_FEATURES_PER_STAGE = [8, 16, 32, 64]


def blank_case(preprocessed: Path, identifier: str, seed: int) -> None:
    """Replace a preprocessed case by noise without a lesion (nnU-Net's own writer), z-scored as
    nnU-Net normalises a lesion-free CT-less image."""
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

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
    plans = json.loads((work / "plans_plain_unet.json").read_text())
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["features_per_stage"] = TEST_FEATURES_PER_STAGE
    plans["covplan"] = {"architecture": "coarse_refine"}
    (work / "plans_coarse_refine.json").write_text(json.dumps(plans, indent=2))
    preprocessed = work / plans["configurations"]["2d"]["data_identifier"]
    for seed, identifier in enumerate(LESION_FREE_CASES):
        blank_case(preprocessed, identifier, seed)
    return work


@pytest.fixture(scope="session")
def classifier_work(nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The coarse_refine WORK folder with fold 0 segmentation and its slice classifier
    trained (one thread: faster than two on a shared two-core machine). Read it, never write."""
    import torch

    from covplan.training import TrainingSettings, train_fold
    from covplan.training.slice_classifier import train_slice_classifier
    from tests.nnunet_work import TINY_TRAINING

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work = coarse_refine_work(nnunet_work_root / "work2d", tmp_path_factory.mktemp("classifier") / "work")
        train_fold(work, "coarse_refine", 0,
                   settings=TrainingSettings(num_epochs=SEGMENTATION_EPOCHS, **{**TINY_TRAINING, "evaluate": False}))
        train_slice_classifier(work, 0, iterations=CLASSIFIER_ITERATIONS, learning_rate=CLASSIFIER_LEARNING_RATE,
                               device="cpu")
    finally:
        torch.set_num_threads(threads)
    return work
