"""Prediction outputs on the input's own grid, each file written atomically: label maps
(NIfTI for volumes, PNG for slices), probabilities (nnU-Net's ``.npz`` + ``.pkl``, which
``covplan ensemble`` averages) and float maps such as the uncertainty."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from PIL import Image

from covplan.atomic import atomic_file
from covplan.labels.files import DICOM_SEG_ENDING
from covplan.write_failures import check_written

NIFTI_ENDING = ".nii.gz"
PNG_ENDING = ".png"
OUTPUT_FORMAT_KEY = "covplan_output_format"  # in the .pkl properties: "nifti" or "png"
# What --output-format chooses for volumes (slices are PNG); the DICOM formats are written
# by covplan.inference.dicom_outputs from the source series.
VOLUME_FORMATS = {"nifti": NIFTI_ENDING, "dicom-seg": DICOM_SEG_ENDING, "rtstruct": ".rtstruct.dcm"}


def label_file(output_dir: Path, case_id: str, output_format: str) -> Path:
    return output_dir / f"{case_id}{PNG_ENDING if output_format == 'png' else VOLUME_FORMATS[output_format]}"


def image_on_input_grid(array: np.ndarray, properties: dict[str, Any]) -> sitk.Image:
    """``array`` (z, y, x; z = 1 for a 2D input) with the input's spacing, origin and direction."""
    geometry = properties["sitk_stuff"]
    image = sitk.GetImageFromArray(array[0] if len(geometry["spacing"]) == 2 else array)
    image.SetSpacing(geometry["spacing"])
    image.SetOrigin(geometry["origin"])
    image.SetDirection(geometry["direction"])
    return image


def write_nifti(image: sitk.Image, target: Path) -> None:
    with atomic_file(target) as temporary:
        # SimpleITK picks its writer by the file ending, which the temporary name lacks.
        staged = temporary.with_name(temporary.name + NIFTI_ENDING)
        try:
            sitk.WriteImage(image, str(staged), useCompression=True)
            check_written(staged, lambda path: sitk.ReadImage(str(path)))
            os.replace(staged, temporary)
        finally:
            staged.unlink(missing_ok=True)


def write_label_map(segmentation: np.ndarray, properties: dict[str, Any], target: Path, output_format: str) -> None:
    """Labels as uint8 (uint16 beyond 255 labels): a PNG of label values for slices, NIfTI otherwise."""
    labels = segmentation.astype(np.uint8 if segmentation.max() < 256 else np.uint16)
    if output_format == "png":
        with atomic_file(target) as temporary:
            Image.fromarray(labels.reshape(labels.shape[-2:])).save(temporary, format="PNG")
    else:
        write_nifti(image_on_input_grid(labels, properties), target)


def probability_files(output_dir: Path, case_id: str) -> tuple[Path, Path]:
    """``<case>.npz`` and ``<case>.pkl``, as nnU-Net's ``--save_probabilities`` names them."""
    return output_dir / f"{case_id}.npz", output_dir / f"{case_id}.pkl"


def write_probabilities(probabilities: np.ndarray, properties: dict[str, Any], output_dir: Path, case_id: str,
                        output_format: str) -> None:
    """``<case>.npz`` (key ``probabilities``, (classes, z, y, x)) and ``<case>.pkl`` (the
    input's properties), as nnU-Net's ``--save_probabilities`` writes them."""
    arrays, properties_file = probability_files(output_dir, case_id)
    with atomic_file(arrays) as temporary, temporary.open("wb") as stream:
        np.savez_compressed(stream, probabilities=probabilities.astype(np.float32))
    with atomic_file(properties_file) as temporary, temporary.open("wb") as stream:
        pickle.dump({**properties, OUTPUT_FORMAT_KEY: output_format}, stream)


def read_probabilities(output_dir: Path, case_id: str) -> tuple[dict[str, Any], str]:
    """The properties and output format saved beside ``<case>.npz``."""
    with probability_files(output_dir, case_id)[1].open("rb") as stream:
        properties = pickle.load(stream)
    return properties, properties.pop(OUTPUT_FORMAT_KEY, "nifti")
