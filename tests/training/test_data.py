"""Batches from nnU-Net's loader through each augmentation pipeline."""

from __future__ import annotations

import pytest

from covplan.errors import CovplanError
from covplan.training.data import build_augmentation, build_batch_generators, deep_supervision_scales
from covplan.training.inputs import fold_case_identifiers, load_training_inputs


def test_deep_supervision_scales_from_output_shapes():
    assert deep_supervision_scales([16, 32], [(16, 32)]) is None
    assert deep_supervision_scales([16, 32], [(16, 32), (8, 16), (4, 8)]) == [[1, 1], [0.5, 0.5], [0.25, 0.25]]


@pytest.mark.parametrize("name", ["nnunet", "p015", "rot_flip"])
def test_each_pipeline_gives_patches_and_a_target_per_output(sphere_work, name):
    inputs = load_training_inputs(sphere_work, "plain_unet")
    scales = deep_supervision_scales([16, 16, 16], [(16, 16, 16), (8, 8, 8)])
    augmentation = build_augmentation(name, inputs, scales)
    train_ids, val_ids = fold_case_identifiers(inputs, 0)
    training, validation = build_batch_generators(inputs, train_ids, val_ids, augmentation, 2, 1.0, 0, 1, False)
    batch = next(training)
    assert tuple(batch["data"].shape) == (2, 1, 16, 16, 16)
    assert [tuple(t.shape) for t in batch["target"]] == [(2, 1, 16, 16, 16), (2, 1, 8, 8, 8)]
    assert set(batch["target"][0].unique().tolist()) <= {0, 1}
    assert batch["target"][0].sum() > 0  # oversampling 100 %: every patch holds foreground
    assert tuple(next(validation)["data"].shape) == (2, 1, 16, 16, 16)


def test_unknown_augmentation(sphere_work):
    with pytest.raises(CovplanError, match="unknown augmentation 'strong'; known: nnunet, p015, rot_flip"):
        build_augmentation("strong", load_training_inputs(sphere_work, "plain_unet"), None)
