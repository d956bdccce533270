"""Refusing NaN and infinite voxels in a raw dataset before anything is planned from it.

nnU-Net's integrity check looks for NaN, but its default reader (SimpleITK) reads a NIfTI
file's NaN and infinite voxels as 0, so a dataset not made by ``covplan convert`` (which
refuses them) would be fingerprinted, preprocessed and trained with soft tissue where the
image holds no value. Integer files hold neither, so only files stored as floats are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.nifti_voxels import NIFTI_SUFFIXES, nifti_float_voxels
from covplan.work_folder import DATASET_JSON

NON_FINITE_FIX = "replace them with a value that means what they stand for (e.g. -1024, air in HU) and plan again"

FLOAT_PIXEL_TYPES = (sitk.sitkFloat32, sitk.sitkFloat64, sitk.sitkVectorFloat32, sitk.sitkVectorFloat64)


def refuse_non_finite_voxels(dataset_dir: Path) -> None:
    """Refuse the first training image or label of ``dataset_dir`` (which passed nnU-Net's
    integrity check) that holds a NaN or infinite voxel, in one line naming the file."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    dataset_json = read_json(dataset_dir / DATASET_JSON, "give nnU-Net's dataset.json of this dataset")
    for files in get_filenames_of_train_images_and_targets(str(dataset_dir), dataset_json).values():
        for path in (*files["images"], files["label"]):
            voxels = _float_voxels(Path(path))
            count = 0 if voxels is None else int(np.count_nonzero(~np.isfinite(voxels)))
            if count:
                raise CovplanError(f"{path}: {count} voxel(s) are NaN or infinite, which nnU-Net would read as 0; "
                                   f"{NON_FINITE_FIX}")


def _float_voxels(path: Path) -> np.ndarray | None:
    """The voxels of a file stored as floats; None for integer data."""
    if path.name.endswith(NIFTI_SUFFIXES):
        return nifti_float_voxels(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    if reader.GetPixelID() not in FLOAT_PIXEL_TYPES:
        return None
    return sitk.GetArrayFromImage(reader.Execute())
