"""Reading one 2D slice (DICOM, PNG or JPG) as an image and its intensity domain: shared by
the slice converter and by `covplan predict`, which reads slices the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

from covplan.conversion.images import SKIP_HINT, image_like, padding_to_air, read_image
from covplan.errors import CovplanError

# Pictures carry no spacing: each pixel is taken as 1 mm unless the user says otherwise.
DEFAULT_PIXEL_SPACING_MM = 1.0
GREY_IMAGE_MODES = ("L", "RGB", "RGBA", "LA", "P")


def open_picture(path: Path) -> Image.Image:
    """A PNG/JPG picture, loaded; an unreadable file raises a one-line :class:`CovplanError`."""
    try:
        picture = Image.open(path)
        picture.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise CovplanError(f"{path}: cannot be read ({error}); replace it with an intact copy {SKIP_HINT}") from error
    return picture


def read_slice(path: Path, pixel_spacing_mm: float) -> tuple[sitk.Image, str]:
    """A 2D slice and its intensity domain. DICOM: HU (rescale slope and intercept
    applied by the reader), padding set to air, spacing and origin from the header.
    PNG/JPG: 8-bit grey with ``pixel_spacing_mm``."""
    if path.suffix.lower() == ".dcm":
        volume = read_image(path)
        if volume.GetDimension() == 3 and volume.GetSize()[2] != 1:
            raise CovplanError(f"{path}: holds {volume.GetSize()[2]} frames, not one slice; export single "
                               f"slices {SKIP_HINT}")
        image = volume[:, :, 0] if volume.GetDimension() == 3 else volume
        return image_like(padding_to_air(sitk.GetArrayFromImage(image)), image), "hu"
    picture = open_picture(path)
    if picture.mode not in GREY_IMAGE_MODES:
        raise CovplanError(f"{path}: image mode {picture.mode} is not 8-bit grey or colour; save it as 8-bit "
                           f"{SKIP_HINT}")
    image = sitk.GetImageFromArray(np.asarray(picture.convert("L")))
    image.SetSpacing((pixel_spacing_mm, pixel_spacing_mm))
    return image, "grey8"
