"""What ``covplan predict --save-uncertainty`` wrote for a case, read back: its label map
and its predictive entropy, as arrays of one shape ((z, y, x), a slice (1, y, x))."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covplan.inference.outputs import label_file
from covplan.inference.predict import uncertainty_files
from covplan.labels.files import label_map_reader, read_label_map


def read_label_file(path: Path) -> np.ndarray:
    """A label map file (NIfTI, PNG, ...) as an integer array (z, y, x)."""
    ending = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    return read_label_map(label_map_reader(path, ending), path)[0]


def read_prediction(output_dir: Path, case_id: str, output_format: str) -> tuple[np.ndarray, np.ndarray]:
    """The predicted labels and the entropy map (nats) of ``case_id`` in ``output_dir``."""
    labels = read_label_file(label_file(output_dir, case_id, output_format))
    entropy_file, _ = uncertainty_files(output_dir, case_id)
    entropy = sitk.GetArrayFromImage(sitk.ReadImage(str(entropy_file))).astype(np.float32)
    return labels, entropy.reshape(labels.shape)
