"""NIfTI voxels as the file stores them: SimpleITK's NIfTI reader (nnU-Net's) turns NaN and
infinity into 0 without a word, so every check for them reads the file with nibabel."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def nifti_float_voxels(path: Path) -> np.ndarray | None:
    """The voxels of a NIfTI file stored as floats, as nibabel reads them (z, y, x, as
    SimpleITK orders them); None for integer data, which holds no NaN."""
    header = nibabel.load(path)
    if not np.issubdtype(header.get_data_dtype(), np.floating):
        return None
    return np.asanyarray(header.dataobj).T  # nibabel's x, y, z -> SimpleITK's z, y, x
