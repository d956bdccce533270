"""The images ``covplan predict`` reads: NIfTI files (one per channel, nnU-Net's
``<case>_0000.nii.gz`` naming), DICOM series (a folder's CT volume, chosen and read by
:mod:`covplan.conversion.dicom_series`) and 2D slices (PNG, JPG, single-slice DICOM), read
with the converters' readers and put in the model's intensity domain the way the
converters do it."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import SimpleITK as sitk
from nibabel.openers import ImageOpener
from nibabel.spatialimages import HeaderDataError

from covplan.conversion.dicom_series import choose_series, read_headers, read_series_volume, series_of
from covplan.conversion.images import SKIP_HINT, detect_intensity_domain, map_to_domain, read_image, refuse_multichannel
from covplan.conversion.slice_format import IMAGE_SUFFIXES
from covplan.conversion.slice_reader import DEFAULT_PIXEL_SPACING_MM, read_slice
from covplan.errors import CovplanError
from covplan.nifti_voxels import NIFTI_SUFFIXES

NIFTI2_HEADER_BYTES = 540  # sizeof_hdr, the first field: 348 for NIfTI-1
CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


@dataclass(frozen=True)
class InputCase:
    """One case to predict: its channel files (NIfTI), its series files (DICOM) or its one
    slice file."""

    case_id: str
    kind: str  # "nifti", "dicom_series" or "slice"
    files: tuple[Path, ...]


@dataclass
class CaseImage:
    """A case as nnU-Net's predictor takes it: ``(channels, z, y, x)`` float32 (a slice has
    z = 1) and the properties nnU-Net's SimpleITK reader would give."""

    data: np.ndarray
    properties: dict[str, Any]
    is_slice: bool


def _nifti_stem(path: Path) -> str:
    return next(path.name[:-len(suffix)] for suffix in NIFTI_SUFFIXES if path.name.endswith(suffix))


def _nifti_cases(files: list[Path], prefix: str) -> list[InputCase]:
    """Files named ``<case>_XXXX`` are the channels of ``<case>`` (nnU-Net's naming); any
    other file is a case of its own."""
    by_case: dict[str, list[Path]] = {}
    for path in sorted(files):
        stem = _nifti_stem(path)
        match = CHANNEL_SUFFIX.match(stem)
        by_case.setdefault(match["case"] if match else stem, []).append(path)
    return [InputCase(prefix + case, "nifti", tuple(paths)) for case, paths in by_case.items()]


def _may_be_dicom(path: Path) -> bool:
    """A ``.dcm`` file, or a file without suffix that starts as DICOM files do."""
    if not path.is_file() or path.suffix.lower() not in ("", ".dcm"):
        return False
    if path.suffix:
        return True
    with path.open("rb") as stream:
        return stream.read(132)[128:] == b"DICM"


def _dicom_cases(folder: Path, prefix: str,
                 series_uid: str | None) -> tuple[list[InputCase], set[Path], dict[str, str]]:
    """The DICOM cases of ``folder`` by the rule of :mod:`covplan.conversion.dicom_series`
    (one volume series, or one 2D case per single-slice series), the DICOM files seen, and
    the series skipped with their reasons."""
    files = [path for path in folder.iterdir() if _may_be_dicom(path)]
    if not files:
        return [], set(), {}
    series = read_headers(files)
    if series_uid is not None and series_uid not in series:
        return [], set(files), {uid: f"not {series_uid}" for uid in series}
    chosen = choose_series(folder, series, series_uid)
    volume_name = prefix.removesuffix("_") or folder.name
    cases = [InputCase(volume_name, "dicom_series", chosen.volume.files)] if chosen.volume else []
    cases += [InputCase(prefix + found.files[0].stem, "slice", found.files) for found in chosen.slices]
    return cases, set(files), chosen.skipped


def _no_cases(input_path: Path, series_uid: str | None, skipped: dict[str, str]) -> CovplanError:
    if series_uid is not None:
        found = ", ".join(list(skipped)[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        return CovplanError(f"{input_path}: no DICOM series {series_uid}; found {found or 'none'} (give one of "
                            f"them, or leave out --series)")
    if skipped:
        reasons = "; ".join(f"{uid}: {reason}" for uid, reason in list(skipped.items())[:5])
        return CovplanError(f"{input_path}: no axial CT series to segment among {len(skipped)} DICOM series "
                            f"({reasons}); give a folder holding one")
    return CovplanError(f"{input_path}: no images found (NIfTI, DICOM series, PNG, JPG); point -i at a file or "
                        f"a folder of them")


def find_cases(input_path: Path, series_uid: str | None = None) -> list[InputCase]:
    """The cases of a file or a folder (searched recursively; a case found in a subfolder
    is named ``<subfolder>_<name>``). With ``series_uid``, the one DICOM series of that UID."""
    input_path = Path(input_path)
    if input_path.is_file():
        if input_path.name.endswith(NIFTI_SUFFIXES):
            return _nifti_cases([input_path], "")
        if input_path.suffix.lower() in IMAGE_SUFFIXES:
            return [InputCase(input_path.stem, "slice", (input_path,))]
        raise CovplanError(f"{input_path}: not an image covplan predicts (NIfTI .nii/.nii.gz, DICOM, PNG or JPG)")
    cases: list[InputCase] = []
    skipped: dict[str, str] = {}
    for folder in sorted([input_path, *(path for path in input_path.rglob("*") if path.is_dir())]):
        if any(part.startswith(".") for part in folder.relative_to(input_path).parts):
            continue
        prefix = "".join(f"{part}_" for part in folder.relative_to(input_path).parts)
        dicom, in_series, skipped_here = _dicom_cases(folder, prefix, series_uid)
        skipped.update(skipped_here)
        if series_uid is not None:
            cases += dicom
            continue
        files = sorted(path for path in folder.iterdir()
                       if path.is_file() and not path.name.startswith(".") and path not in in_series)
        cases += _nifti_cases([path for path in files if path.name.endswith(NIFTI_SUFFIXES)], prefix)
        cases += dicom
        cases += [InputCase(prefix + path.stem, "slice", (path,)) for path in files
                  if path.suffix.lower() in IMAGE_SUFFIXES]
    seen: dict[str, InputCase] = {}
    for case in cases:
        if case.case_id in seen:
            raise CovplanError(f"{case.files[0]} and {seen[case.case_id].files[0]} would both be written as case "
                               f"'{case.case_id}'; rename one of them")
        seen[case.case_id] = case
    if not cases:
        raise _no_cases(input_path, series_uid, skipped)
    return cases


def _without_skip_hint(error: CovplanError) -> CovplanError:
    # The converters' readers suggest their --skip-bad; predict goes on with the other
    # cases by itself.
    return CovplanError(str(error).replace(f" {SKIP_HINT}", ""))


def _header_voxel_sizes(path: Path) -> list[float] | None:
    """The voxel sizes (pixdim) a NIfTI header states, as written: nibabel's and ITK's
    readers replace a zero by 1 on the way in. None where the header cannot be read (the
    image reader then says why)."""
    try:
        with ImageOpener(str(path)) as stream:
            size = stream.read(4)
            stream.seek(0)
            nifti2 = NIFTI2_HEADER_BYTES in (int.from_bytes(size, "little"), int.from_bytes(size, "big"))
            header = (nibabel.Nifti2Header if nifti2 else nibabel.Nifti1Header).from_fileobj(stream, check=False)
    except (OSError, EOFError, zlib.error, HeaderDataError, ValueError):
        return None
    spatial = min(int(header["dim"][0]), 3)
    return [float(value) for value in header["pixdim"][1:1 + spatial]]


def _refuse_nonpositive_voxel_size(path: Path) -> None:
    """A voxel size of zero or below: ITK reads it as 1 mm (or flips the axis) with at most
    a warning of its own, and the model would segment the image at a size it does not have."""
    sizes = _header_voxel_sizes(path)
    if sizes and min(sizes) <= 0:
        raise CovplanError(f"{path}: its header gives voxel sizes {sizes} mm (pixdim), and each must be above 0; "
                           f"write the image again with its true spacing")


def _read_channel(case: InputCase, path: Path) -> tuple[sitk.Image, str | None]:
    """One channel and its intensity domain (None where the values say neither)."""
    if case.kind == "slice":
        return read_slice(path, DEFAULT_PIXEL_SPACING_MM)
    if case.kind == "dicom_series":
        image = read_series_volume(series_of(case.files))
        refuse_multichannel(image, path)
    else:
        _refuse_nonpositive_voxel_size(path)
        image = read_image(path, nan_fix="replace them in the image")
    if case.kind == "dicom_series":
        return image, "hu"
    try:
        return image, detect_intensity_domain(sitk.GetArrayViewFromImage(image), path)
    except CovplanError:
        return image, None


def _in_model_domain(image: sitk.Image, domain: str | None, model_domain: str | None, path: Path,
                     model_folder: Path) -> sitk.Image:
    """The image in the domain the model was trained on, mapped as the converters map
    their cases (HU -> 8-bit grey by the published window); grey cannot become HU."""
    if model_domain is None:
        return image  # plain nnU-Net data: nothing known to check
    if domain != model_domain and not (domain == "hu" and model_domain == "grey8"):
        found = {"grey8": "8-bit grey", "hu": "CT in HU"}.get(domain, "neither 8-bit grey nor HU")
        wanted = {"grey8": "8-bit grey images (0..255)", "hu": "CT in HU"}[model_domain]
        raise CovplanError(f"{path}: the image is {found} but the model {model_folder} was trained on {wanted}; "
                           f"give it the image in that domain")
    return map_to_domain(image, domain, model_domain, path)[0]


def nnunet_properties(image: sitk.Image) -> dict[str, Any]:
    """The properties nnU-Net's SimpleITKIO reader returns for ``image`` (a 2D image gets
    nnU-Net's dummy slice spacing)."""
    spacing = image.GetSpacing()
    if image.GetDimension() == 2:
        nnunet_spacing = [max(spacing) * 999, *spacing[::-1]]
    else:
        nnunet_spacing = list(spacing[::-1])
    return {"sitk_stuff": {"spacing": spacing, "origin": image.GetOrigin(), "direction": image.GetDirection()},
            "spacing": [abs(value) for value in nnunet_spacing]}


def read_case(case: InputCase, model_domain: str | None, model_folder: Path) -> CaseImage:
    """Read every channel of ``case`` in the model's intensity domain; unreadable files and
    domain mismatches raise a one-line :class:`CovplanError` naming the file."""
    try:
        channel_files = case.files[:1] if case.kind == "dicom_series" else case.files
        images = [_in_model_domain(*_read_channel(case, path), model_domain, path, model_folder)
                  for path in channel_files]
    except CovplanError as error:
        raise _without_skip_hint(error) from error
    reference = images[0]
    for path, image in zip(channel_files[1:], images[1:]):
        if image.GetSize() != reference.GetSize():
            raise CovplanError(f"{path}: size {image.GetSize()} differs from channel 0's {reference.GetSize()} "
                               f"({channel_files[0]}); all channels of a case share one grid")
    arrays = [sitk.GetArrayFromImage(image).astype(np.float32) for image in images]
    arrays = [array[None] if reference.GetDimension() == 2 else array for array in arrays]
    data = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)  # one channel: no copy
    return CaseImage(data, nnunet_properties(reference), is_slice=reference.GetDimension() == 2 or data.shape[1] == 1)
