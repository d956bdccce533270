"""Sparse annotations: a source mask value that means "not annotated" (slices nobody
drew, regions left out), written as nnU-Net's ignore label so that training learns from
the annotated voxels only and evaluation skips the others.

nnU-Net requires the ignore label to be the highest label value and to be named
``ignore`` in dataset.json; :func:`labels_with_ignore` gives it the value after the
dataset's highest label.
"""

from __future__ import annotations

from collections.abc import Mapping

import click
import numpy as np

IGNORE_NAME = "ignore"  # nnU-Net's name of the ignore label in dataset.json


def unlabelled_value_option() -> click.Option:
    """``--unlabelled-value V``, the option every built-in converter takes."""
    return click.Option(["--unlabelled-value"], type=click.IntRange(min=0, max=255), default=None,
                        help="Source mask value meaning 'not annotated' (sparse annotations): written as nnU-Net's "
                             "ignore label, which training and evaluation skip.")


def labels_with_ignore(labels: Mapping[str, int], unlabelled_value: int | None) -> dict[str, int]:
    """The dataset.json labels, with ``ignore`` after the highest label when the source
    has an unlabelled value."""
    if unlabelled_value is None:
        return dict(labels)
    return with_ignore_label(labels)


def with_ignore_label(labels: Mapping[str, int]) -> dict[str, int]:
    """The dataset.json labels with an ignore label: their own, else one after the highest."""
    if IGNORE_NAME in labels:
        return dict(labels)
    return {**labels, IGNORE_NAME: max(labels.values()) + 1}


def take_unlabelled(values: np.ndarray, unlabelled_value: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A source mask with its unlabelled voxels set to background (so that the
    converter's label checks and mapping see only real labels), and where they were
    (None without an unlabelled value)."""
    if unlabelled_value is None:
        return values, None
    unlabelled = values == unlabelled_value
    return np.where(unlabelled, 0, values).astype(values.dtype), unlabelled


def mark_unlabelled(labels: np.ndarray, unlabelled: np.ndarray | None, dataset_labels: Mapping[str, int]) -> np.ndarray:
    """The mapped label map with the unlabelled voxels set to the ignore label."""
    if unlabelled is None or not unlabelled.any():
        return labels
    return np.where(unlabelled, dataset_labels[IGNORE_NAME], labels).astype(labels.dtype)
