"""The images the predictions were made from, as ``covplan report`` takes them: found by
case id (with or without nnU-Net's channel suffix) and read as grey ``(z, y, x)`` arrays,
to draw the overlays on and to derive a lung from."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covplan.errors import CovplanError

IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".png", ".jpg", ".jpeg", ".bmp", ".tiff", ".tif", ".dcm")
CHANNEL_SUFFIX = "_0000"  # nnU-Net's name for the first (here: only) image channel


def image_files(images: Path) -> dict[str, Path]:
    """Case id -> image for a file or folder of images (nnU-Net's ``_0000`` suffix dropped)."""
    paths = [images] if images.is_file() else sorted(path for path in images.iterdir()
                                                    if path.is_file() and not path.name.startswith("."))
    found = {}
    for path in paths:
        ending = next((ending for ending in IMAGE_ENDINGS if path.name.lower().endswith(ending)), None)
        if ending is not None:
            case_id = path.name[:-len(ending)]
            found[case_id.removesuffix(CHANNEL_SUFFIX)] = path
    return found


def matching_images(images: Path, case_ids: Iterable[str]) -> dict[str, Path]:
    """The image in ``images`` of each of ``case_ids`` that has one. When none has, the
    images are those of other cases (or named otherwise): refused in one line naming both
    sides, since every lung derived from them, and every grade, would be missing."""
    found = image_files(images)
    case_ids = list(case_ids)
    matched = {case_id: found[case_id] for case_id in case_ids if case_id in found}
    if case_ids and not matched:
        raise CovplanError(f"{images}: no image matches a prediction (images are matched by name, CASE.ext or "
                           f"CASE_0000.ext); predictions: {shown_names(case_ids)}; images: "
                           f"{shown_names(found) or 'none'}; give the images the predictions were made from")
    return matched


def shown_names(names: Iterable[str], shown: int = 3) -> str:
    """The first ``shown`` of ``names`` in order, and how many more there are."""
    names = sorted(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def read_grey_image(path: Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    """A grey image as a (z, y, x) array (colour averaged), checked against its label map."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise CovplanError(f"{path}: cannot read the image ({str(error).strip().splitlines()[-1]})") from error
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    if image.GetNumberOfComponentsPerPixel() > 1:
        array = array.mean(axis=-1)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.shape != expected_shape:
        raise CovplanError(f"{path}: image shape {array.shape} differs from its prediction {expected_shape}; "
                           "give the images the predictions were made from")
    return array
