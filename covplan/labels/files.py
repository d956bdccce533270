"""Finding and reading the label maps of a folder with nnU-Net's reader-writers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter
from nnunetv2.imageio.reader_writer_registry import (
    determine_reader_writer_from_dataset_json,
    determine_reader_writer_from_file_ending,
)

from covplan.errors import CovplanError
from covplan.labels.dicom_seg import DICOM_SEG_ENDING, DicomSegReader
from covplan.nifti_voxels import NIFTI_SUFFIXES, nifti_float_voxels

LABEL_MAP_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".png", ".bmp", ".tiff", ".tif", DICOM_SEG_ENDING)


def file_ending_of(folder: Path) -> str:
    """The one label-map file ending used in ``folder``."""
    endings = {ending for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")
               for ending in LABEL_MAP_ENDINGS if path.name.lower().endswith(ending)}
    if not endings:
        raise CovplanError(f"{folder}: no label maps found (files ending in {', '.join(LABEL_MAP_ENDINGS)})")
    if len(endings) > 1:
        raise CovplanError(f"{folder}: label maps of several formats ({', '.join(sorted(endings))}); "
                           "keep one format per folder or give a dataset.json with its 'file_ending'")
    return endings.pop()


def case_files(folder: Path, file_ending: str) -> dict[str, Path]:
    """Case id -> file for every file in ``folder`` that ends in ``file_ending`` (hidden
    files such as macOS ``._`` metadata are skipped)."""
    return {path.name[:-len(file_ending)]: path for path in sorted(folder.iterdir())
            if path.is_file() and path.name.endswith(file_ending) and not path.name.startswith(".")}


def label_map_reader(example_file: Path, file_ending: str,
                     dataset_json: Mapping[str, Any] | None = None) -> BaseReaderWriter:
    """nnU-Net's reader-writer for these label maps: the one dataset.json names, else the
    first that reads ``example_file``; DICOM-SEG, which nnU-Net does not read, with covplan's
    reader (highdicom)."""
    if file_ending == DICOM_SEG_ENDING:
        return DicomSegReader()
    try:
        if dataset_json is not None and "file_ending" in dataset_json:
            reader_class = determine_reader_writer_from_dataset_json(dataset_json, str(example_file), verbose=False)
        else:
            reader_class = determine_reader_writer_from_file_ending(file_ending, str(example_file),
                                                                    allow_nonmatching_filename=True, verbose=False)
    except RuntimeError as error:
        raise CovplanError(f"{example_file}: no nnU-Net reader can open it as a label map") from error
    return reader_class()


def read_label_map(reader: BaseReaderWriter, path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The label map as an integer array (z, y, x), a 2D map as (1, y, x), and its spacing
    in mm in the same order (nnU-Net's 999 stands for the missing axis of a 2D map)."""
    try:
        segmentation, properties = reader.read_seg(str(path))
    except Exception as error:  # the readers raise anything from RuntimeError to AssertionError
        raise CovplanError(f"{path}: cannot read it as a label map ({error})") from error
    if segmentation.shape[0] != 1:
        raise CovplanError(f"{path}: a label map has one channel, this file has {segmentation.shape[0]}")
    label_map = segmentation[0].astype(np.int32)
    _refuse_fractional_values(segmentation[0], label_map, path)
    _refuse_nan_in_nifti(path)
    return label_map, tuple(float(s) for s in properties["spacing"])


def _refuse_nan_in_nifti(path: Path) -> None:
    # SimpleITK reads a NaN of a NIfTI file as 0 (background), which no check of the array
    # it returns can see.
    voxels = nifti_float_voxels(path) if path.name.endswith(NIFTI_SUFFIXES) else None
    if voxels is not None and np.isnan(voxels).any():
        raise CovplanError(f"{path}: {int(np.isnan(voxels).sum())} voxel(s) are NaN (not a number), not label "
                           "numbers; save the label map with integer labels")


def _refuse_fractional_values(values: np.ndarray, label_map: np.ndarray, path: Path) -> None:
    # nnU-Net's readers return float32; the cast to integers would truncate 1.5 to lung
    # and 0.7 to background without a word. Whole numbers stored as floats (1.0) are labels
    # as nnU-Net's verify_labels accepts them; a fraction or NaN is a probability map or a
    # linearly resampled mask, and no label can be read from it.
    if not np.issubdtype(values.dtype, np.floating):
        return
    fractional = values != label_map
    if fractional.any():
        examples = ", ".join(f"{value:g}" for value in np.unique(values[fractional])[:3])
        raise CovplanError(f"{path}: {int(fractional.sum())} voxel(s) hold values that are not whole label numbers "
                           f"(e.g. {examples}); save the label map with integer labels (resample masks with "
                           "nearest neighbour, threshold probabilities)")
