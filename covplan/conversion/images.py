"""Reading source images and masks, checking them, and mapping intensities: the checks
every converter makes where bad input enters."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from pathlib import Path

import click
import nibabel
import numpy as np
import SimpleITK as sitk

from covplan.errors import CovplanError
from covplan.nifti_voxels import NIFTI_SUFFIXES, nifti_float_voxels

# The published COVID-19-CT-Seg method (METHODS.md) windows HU cases to [-1250, 250] and
# scales them to 0..255 so that they share the domain of the radiopaedia cases.
HU_WINDOW = (-1250.0, 250.0)
HU_TO_GREY8 = f"clip [{HU_WINDOW[0]:g}, {HU_WINDOW[1]:g}] -> linear 0..255, rounded to uint8"

# Air in HU; DICOM padding values (-2000, -3024, ...) and anything else below it become air.
AIR_HU = -1024.0

# A grey image lies in 0..255; a CT in HU has air near -1000, so anything clearly below
# zero marks HU. Values in between are neither and are refused rather than guessed.
HU_MINIMUM_BELOW = -500.0

# How far a mask's header may differ from its image's and still be put on its grid.
SPACING_RTOL = 1e-3
ORIGIN_ATOL_MM = 1e-2
DIRECTION_ATOL = 1e-3

SKIP_HINT = "or pass --skip-bad to convert the other cases without it"

READ_CHUNK_BYTES = 1 << 24

# How a converter's user replaces NaN voxels (see nan_value_option); predict has no such option.
NAN_VALUE_FIX = "fix the image, or pass --nan-value V to set them to V (e.g. -1024: air in HU)"


def read_image(path: Path, nan_value: float | None = None, nan_fix: str = NAN_VALUE_FIX) -> sitk.Image:
    """Read a medical or natural image with SimpleITK; an unreadable or truncated file, a
    4D or multi-component image, or one with NaN voxels (unless ``nan_value`` replaces
    them) is a :class:`CovplanError` naming it; ``nan_fix`` says how to mend the NaN."""
    if not path.is_file():
        raise CovplanError(f"{path}: file missing; restore it {SKIP_HINT}")
    if path.name.endswith(NIFTI_SUFFIXES):
        _check_nifti_complete(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()
                       and "sitk::ERROR" in line), "unreadable")
        raise CovplanError(f"{path}: cannot be read ({reason.split('sitk::ERROR:')[-1].strip()}); "
                           f"replace it with an intact copy {SKIP_HINT}") from error
    refuse_multichannel(image, path)
    if path.name.endswith(NIFTI_SUFFIXES):
        image = _nan_voxels_checked(image, path, nan_value, nan_fix)
    return image


def refuse_multichannel(image: sitk.Image, path: Path) -> None:
    """Refuse a 4D or multi-component image: covplan wants one 2D or 3D file per channel."""
    if image.GetDimension() > 3 or image.GetNumberOfComponentsPerPixel() > 1:
        raise CovplanError(f"{path}: a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} "
                           f"component(s) per voxel, not one 2D or 3D volume; give one file per channel "
                           f"(<case>_0000.nii.gz, <case>_0001.nii.gz) {SKIP_HINT}")


def _nan_voxels_checked(image: sitk.Image, path: Path, nan_value: float | None, nan_fix: str) -> sitk.Image:
    voxels = nifti_float_voxels(path)
    if voxels is None:
        return image
    nan_voxels = np.isnan(voxels)
    count = int(nan_voxels.sum())
    if count == 0:
        return image
    if nan_value is None:
        raise CovplanError(f"{path}: {count} voxel(s) are NaN (not a number); {nan_fix} {SKIP_HINT}")
    array = sitk.GetArrayFromImage(image)
    array[nan_voxels.reshape(array.shape)] = nan_value
    return image_like(array, image)


def nan_value_option() -> click.Option:
    """``--nan-value``: the option of the NIfTI converters that replaces NaN voxels."""
    return click.Option(["--nan-value"], type=float, default=None,
                        help="Replace NaN voxels of the images by this value (e.g. -1024, air in HU) "
                             "[default: refuse an image with NaN].")


def _check_nifti_complete(path: Path) -> None:
    # SimpleITK reads a truncated NIfTI without complaint and fills the missing voxels
    # with zeros, so the data size is checked against the header first.
    try:
        header = nibabel.load(path).header
        expected = int(header["vox_offset"]) + int(np.prod(header.get_data_shape())) * header.get_data_dtype().itemsize
        size = 0
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as stream:
            while chunk := stream.read(READ_CHUNK_BYTES):
                size += len(chunk)
    except (OSError, EOFError, zlib.error, nibabel.filebasedimages.ImageFileError) as error:
        raise CovplanError(f"{path}: cannot be read (truncated or damaged: {error}); replace it with an intact "
                           f"copy {SKIP_HINT}") from error
    if size < expected:
        raise CovplanError(f"{path}: cannot be read (truncated: {size} of {expected} bytes); replace it with an "
                           f"intact copy {SKIP_HINT}")


def detect_intensity_domain(array: np.ndarray, path: Path) -> str:
    """``"grey8"`` for an image in 0..255, ``"hu"`` for one with air near -1000 HU; the
    values decide, never the file name."""
    low, high = float(array.min()), float(array.max())
    if low >= 0.0 and high <= 255.0:
        return "grey8"
    if low <= HU_MINIMUM_BELOW:
        return "hu"
    raise CovplanError(f"{path}: intensities {low:g}..{high:g} are neither 8-bit grey (0..255) nor CT in HU "
                       f"(air near -1000); convert it to one of them {SKIP_HINT}")


def hu_to_grey8(hu: np.ndarray) -> np.ndarray:
    """Map HU to 0..255 as the published COVID-19-CT-Seg method does."""
    low, high = HU_WINDOW
    scaled = (np.clip(hu.astype(np.float32), low, high) - low) / (high - low) * 255.0
    return np.rint(scaled).astype(np.uint8)


def map_to_domain(image: sitk.Image, source_domain: str, target_domain: str, path: Path) -> tuple[sitk.Image, str]:
    """The image in ``target_domain`` and what was done to it: HU becomes grey by
    :func:`hu_to_grey8`; grey cannot become HU."""
    if source_domain == target_domain:
        return image, "none"
    if target_domain == "grey8":
        return image_like(hu_to_grey8(sitk.GetArrayFromImage(image)), image), HU_TO_GREY8
    raise CovplanError(f"{path}: 8-bit grey image, not HU, cannot join an HU dataset; convert with "
                       f"--intensity grey8 {SKIP_HINT}")


def padding_to_air(hu: np.ndarray) -> np.ndarray:
    """Set DICOM padding (-2000, -3024) and every other value below air to air."""
    return np.maximum(hu, AIR_HU).astype(np.int16)


def image_like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A SimpleITK image of ``array`` on the grid (spacing, origin, direction) of
    ``reference``."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _geometry_differences(image: sitk.Image, mask: sitk.Image) -> list[str]:
    differences = []
    if not np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=SPACING_RTOL, atol=0.0):
        differences.append(f"spacing {_fmt(mask.GetSpacing())} vs {_fmt(image.GetSpacing())}")
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), rtol=0.0, atol=ORIGIN_ATOL_MM):
        differences.append(f"origin {_fmt(mask.GetOrigin())} vs {_fmt(image.GetOrigin())}")
    if not np.allclose(image.GetDirection(), mask.GetDirection(), rtol=0.0, atol=DIRECTION_ATOL):
        differences.append(f"direction {_fmt(mask.GetDirection())} vs {_fmt(image.GetDirection())}")
    return differences


def _fmt(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def mask_on_image_grid(mask: sitk.Image, image: sitk.Image, mask_path: Path, image_path: Path) -> sitk.Image:
    """The mask with exactly the image's header, when its size matches and its spacing,
    origin and direction match within tolerance. Masks are never resampled or flipped: a
    mismatch is an error naming both files."""
    if mask.GetSize() != image.GetSize():
        raise CovplanError(f"{mask_path}: mask size {mask.GetSize()} differs from image size {image.GetSize()} "
                           f"of {image_path}; pair it with the right image {SKIP_HINT}")
    differences = _geometry_differences(image, mask)
    if differences:
        raise CovplanError(f"{mask_path}: mask geometry differs from {image_path} ({'; '.join(differences)}); "
                           f"fix the mask header to the image's {SKIP_HINT}")
    on_grid = sitk.Image(mask)
    on_grid.CopyInformation(image)
    return on_grid


def check_label_values(labels: np.ndarray, allowed: Iterable[int], path: Path) -> None:
    """Refuse a mask with values outside the label scheme."""
    allowed = sorted(set(allowed))
    unexpected = sorted(set(np.unique(labels).tolist()) - set(allowed))
    if unexpected:
        raise CovplanError(f"{path}: label values {unexpected} are outside the label scheme {allowed}; "
                           f"fix the mask {SKIP_HINT}")
