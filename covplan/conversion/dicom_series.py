"""DICOM series as covplan reads them: the files of a folder grouped by SeriesInstanceUID,
the CT series to segment chosen by a stated rule, and its volume built from the headers
with every check explicit.

Why not SimpleITK's ImageSeriesReader alone: it sorts and stacks whatever it is given. A
series with a missing slice comes back one slice short with the average spacing, and a
localizer or a scout that shares a folder becomes a series of its own. Here the geometry
comes from the headers (ImagePositionPatient projected on the slice normal; the spacing is
the distance between those positions, never SliceThickness) and a series that cannot be
stacked on a regular grid is refused with the reason, never resampled silently.

The rule that chooses the series of a folder (``choose_series``): a series is skipped when
its Modality is not CT, its ImageType says LOCALIZER, its SOP class is a secondary capture
or not CT Image Storage, it is multi-frame, or its slices are not axial (the slice normal
further than 30 degrees from the patient's head-feet axis). Of the rest, the series with
the most slices is segmented (ties: the lowest SeriesNumber, then UID; the warning about
each CT series left out says why, and how ``--series`` takes it instead); a folder whose
remaining series hold one slice each gives one 2D case per slice, as a folder of single
DICOM slices always did.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from covplan.conversion.images import padding_to_air
from covplan.errors import CovplanError
from covplan.scratch import scratch_folder

logger = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
AXIAL_MIN_COSINE = np.cos(np.deg2rad(30.0))  # |slice normal . patient z| at least this: axial
# Slices are evenly spaced when every gap is within this of the median gap (scanner
# positions are written to a few hundredths of a millimetre).
GAP_TOLERANCE_MM = 0.05
GAP_TOLERANCE_RELATIVE = 0.01
ORIENTATION_TOLERANCE = 1e-4
GEOMETRY_KEYWORDS = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns")
SERIES_FIX = "export the complete series again, or choose another with --series UID"


@dataclass(frozen=True)
class SeriesFiles:
    """The files of one series in one folder and the header of each (no pixel data)."""

    series_uid: str
    files: tuple[Path, ...]
    headers: tuple[Any, ...]  # pydicom Datasets read with stop_before_pixels

    @property
    def description(self) -> str:
        header = self.headers[0]
        text = str(header.get("SeriesDescription", "") or "").strip()
        return f"series {header.get('SeriesNumber', '?')}" + (f" '{text}'" if text else "")


@dataclass
class FolderSeries:
    """What a folder's DICOM files hold: the volume series chosen (or None), the single
    slices kept as 2D cases, and every other series with the reason it was skipped."""

    volume: SeriesFiles | None
    slices: list[SeriesFiles]
    skipped: dict[str, str]  # series UID -> why


def read_headers(files: Sequence[Path]) -> dict[str, SeriesFiles]:
    """The DICOM files among ``files`` grouped by SeriesInstanceUID (files pydicom cannot
    read as DICOM are left out with a warning)."""
    grouped: dict[str, list[tuple[Path, Any]]] = {}
    for path in sorted(files):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError) as error:
            logger.warning("%s: not read as DICOM (%s); left out", path, error)
            continue
        grouped.setdefault(str(header.get("SeriesInstanceUID", "")), []).append((path, header))
    return {uid: SeriesFiles(uid, tuple(path for path, _ in members), tuple(header for _, header in members))
            for uid, members in grouped.items()}


def _slice_normal(header: Any) -> np.ndarray:
    cosines = np.asarray(header.ImageOrientationPatient, dtype=float)
    return np.cross(cosines[:3], cosines[3:])


def skip_reason(series: SeriesFiles) -> str | None:
    """Why ``series`` is not a CT volume covplan segments, or None (see the module docstring)."""
    header = series.headers[0]
    modality = header.get("Modality", "")
    sop_class = str(header.get("SOPClassUID", ""))
    image_type = [str(value).upper() for value in (header.get("ImageType") or [])]
    if not series.series_uid:
        return "no SeriesInstanceUID"
    if modality != "CT":
        return f"modality {modality or 'missing'}, not CT"
    if "LOCALIZER" in image_type:
        return "a localizer (ImageType LOCALIZER)"
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        return "a secondary capture, not an acquired image"
    if sop_class != CT_IMAGE_STORAGE:
        return f"SOP class {sop_class}, not CT Image Storage"
    if int(header.get("NumberOfFrames", 1) or 1) > 1:
        return "a multi-frame (enhanced) CT; export it as single-frame CT images"
    missing = [keyword for keyword in GEOMETRY_KEYWORDS if keyword not in header]
    if missing:
        return f"no {'/'.join(missing)}"
    normal = _slice_normal(header)
    if abs(normal[2]) < AXIAL_MIN_COSINE:
        return f"not axial (slice normal {np.round(normal, 2).tolist()})"
    return None


def _sort_key(series: SeriesFiles) -> tuple[int, int, str]:
    number = series.headers[0].get("SeriesNumber")
    return -len(series.files), int(number) if number not in (None, "") else 1 << 30, series.series_uid


def _why_not_chosen(other: SeriesFiles, chosen: SeriesFiles) -> str:
    """Why the rule chose ``chosen`` over the CT series ``other``, and how to take ``other``."""
    if len(other.files) < len(chosen.files):
        why = (f"{len(other.files)} slice(s), fewer than the chosen {chosen.description} ({chosen.series_uid}, "
               f"{len(chosen.files)} slices)")
    else:
        tie_break = ("for its lower SeriesNumber" if _sort_key(chosen)[1] != _sort_key(other)[1]
                     else "because its SeriesInstanceUID sorts first (the same SeriesNumber)")
        why = f"as many slices ({len(other.files)}) as {chosen.description} ({chosen.series_uid}), chosen {tie_break}"
    return f"{why}; --series {other.series_uid} segments this one instead"


def choose_series(folder: Path, series: dict[str, SeriesFiles], requested_uid: str | None = None) -> FolderSeries:
    """Apply the rule of the module docstring to the series of ``folder``, or take
    ``requested_uid`` (refused, with the reason, when the rule skips it). Skipped series
    are logged one line each."""
    reasons = {uid: skip_reason(found) for uid, found in series.items()}
    if requested_uid is not None:
        if reasons[requested_uid] is not None:
            raise CovplanError(f"{folder}: series {requested_uid} is {reasons[requested_uid]}; "
                               f"choose a CT series with --series")
        skipped = {uid: "not the series --series chose" for uid in series if uid != requested_uid}
        chosen = series[requested_uid]
        result = FolderSeries(chosen if len(chosen.files) > 1 else None,
                              [chosen] if len(chosen.files) == 1 else [], skipped)
    else:
        skipped = {uid: reason for uid, reason in reasons.items() if reason is not None}
        candidates = sorted((found for uid, found in series.items() if reasons[uid] is None), key=_sort_key)
        volumes = [found for found in candidates if len(found.files) > 1]
        if volumes:
            chosen = volumes[0]
            for other in candidates[1:]:
                skipped[other.series_uid] = _why_not_chosen(other, chosen)
            result = FolderSeries(chosen, [], skipped)
        else:
            result = FolderSeries(None, candidates, skipped)
    for uid, reason in result.skipped.items():
        # A second CT series left out is worth a warning (--series takes it); a scout is not.
        level = logging.WARNING if reasons[uid] is None else logging.INFO
        logger.log(level, "%s: skipped %s (%s, %d file(s)): %s", folder, uid, series[uid].description,
                   len(series[uid].files), reason)
    if result.volume is not None:
        logger.info("%s: segmenting series %s (%s, %d slices)", folder, result.volume.series_uid,
                    result.volume.description, len(result.volume.files))
    return result


@dataclass(frozen=True)
class SeriesGeometry:
    """The slices of a series in the order they are stacked (along the slice normal) and
    the grid they lie on, in SimpleITK's conventions (x, y, z)."""

    order: tuple[int, ...]  # index into the series' files, first slice first
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # row-major 3 x 3: columns are the row, column and slice directions


def _refuse(series: SeriesFiles, why: str) -> CovplanError:
    return CovplanError(f"{series.files[0].parent}: series {series.series_uid} {why}; {SERIES_FIX}")


def series_geometry(series: SeriesFiles) -> SeriesGeometry:
    """Sort the slices by their position along the slice normal and check that they form
    a regular grid: one orientation and size, no two slices at one position, no missing
    slice, even spacing, no gantry tilt."""
    headers = series.headers
    for path, header in zip(series.files, headers):
        missing = [keyword for keyword in GEOMETRY_KEYWORDS if keyword not in header]
        if missing:
            raise _refuse(series, f"has a slice without {'/'.join(missing)} ({path.name})")
    first = headers[0]
    cosines = np.asarray(first.ImageOrientationPatient, dtype=float)
    for header in headers[1:]:
        if not np.allclose(np.asarray(header.ImageOrientationPatient, float), cosines, atol=ORIENTATION_TOLERANCE):
            raise _refuse(series, "mixes slice orientations")
        if (header.Rows, header.Columns) != (first.Rows, first.Columns):
            raise _refuse(series, "mixes image sizes")
        if not np.allclose(np.asarray(header.PixelSpacing, float), np.asarray(first.PixelSpacing, float)):
            raise _refuse(series, "mixes pixel spacings")
    normal = np.cross(cosines[:3], cosines[3:])
    positions = np.asarray([header.ImagePositionPatient for header in headers], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    gaps = np.diff(along)
    if (gaps < GAP_TOLERANCE_MM).any():
        index = int(np.argmin(gaps))
        raise _refuse(series, f"has two slices at position {along[index]:.2f} mm "
                              f"({series.files[order[index]].name}, {series.files[order[index + 1]].name})")
    spacing = float(np.median(gaps))
    off = np.abs(gaps - spacing) > max(GAP_TOLERANCE_MM, GAP_TOLERANCE_RELATIVE * spacing)
    if off.any():
        index = int(np.argmax(np.abs(gaps - spacing)))
        missing = round(gaps[index] / spacing) - 1
        if missing >= 1 and abs(gaps[index] - (missing + 1) * spacing) <= max(GAP_TOLERANCE_MM, 0.05 * spacing):
            raise _refuse(series, f"misses {missing} slice(s) between {along[index]:.2f} and {along[index + 1]:.2f} "
                                  f"mm (gap {gaps[index]:.2f} mm, spacing {spacing:.2f} mm)")
        raise _refuse(series, f"has unevenly spaced slices (gaps from {gaps.min():.2f} to {gaps.max():.2f} mm, "
                              f"largest between {along[index]:.2f} and {along[index + 1]:.2f} mm)")
    sideways = positions - positions[0] - np.outer(along - along[0], normal)
    if np.abs(sideways).max() > max(GAP_TOLERANCE_MM, GAP_TOLERANCE_RELATIVE * spacing):
        raise _refuse(series, "has slices shifted sideways along the stack (gantry tilt); resample it to an "
                              "orthogonal grid first")
    row_spacing, column_spacing = (float(value) for value in first.PixelSpacing)
    direction = np.stack([cosines[:3], cosines[3:], normal], axis=1)
    return SeriesGeometry(tuple(int(index) for index in order), (column_spacing, row_spacing, spacing),
                          tuple(float(value) for value in positions[0]), tuple(direction.ravel().tolist()))


def _slice_in_hu(dataset: Any, path: Path, series: SeriesFiles) -> np.ndarray:
    """One slice's stored values through its own rescale slope and intercept; its padding
    values (PixelPaddingValue up to PixelPaddingRangeLimit) and anything below air become air."""
    try:
        stored = dataset.pixel_array
    except Exception as error:  # pydicom raises anything from RuntimeError to NotImplementedError here
        raise CovplanError(f"{path}: pixel data of series {series.series_uid} cannot be decoded ({error}); "
                           f"decompress the series (e.g. with gdcmconv --raw) or replace the file") from error
    padding = np.zeros(stored.shape, dtype=bool)
    if "PixelPaddingValue" in dataset:
        low = dataset.PixelPaddingValue
        high = dataset.get("PixelPaddingRangeLimit", low)
        padding = (stored >= min(low, high)) & (stored <= max(low, high))
    hu = stored.astype(np.float64) * float(dataset.get("RescaleSlope", 1) or 1) \
        + float(dataset.get("RescaleIntercept", 0) or 0)
    hu[padding] = -np.inf
    return padding_to_air(hu)


def read_series_volume(series: SeriesFiles) -> sitk.Image:
    """The series as one int16 HU volume on the grid of :func:`series_geometry`, slice k
    being ``series.files[geometry.order[k]]``."""
    geometry = series_geometry(series)
    planes = []
    for index in geometry.order:
        path = series.files[index]
        planes.append(_slice_in_hu(pydicom.dcmread(path), path, series))
    image = sitk.GetImageFromArray(np.stack(planes))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


def series_of(files: Sequence[Path]) -> SeriesFiles:
    """The one series ``files`` (a case's files) belong to."""
    (series,) = read_headers(files).values()
    return series


def sorted_series(series: SeriesFiles) -> SeriesFiles:
    """``series`` with its files and headers in stacking order."""
    order = series_geometry(series).order
    return SeriesFiles(series.series_uid, tuple(series.files[i] for i in order),
                       tuple(series.headers[i] for i in order))


ZIP_SUFFIX = ".zip"


@contextmanager
def unzipped(path: Path) -> Iterator[Path]:
    """``path`` itself, or a zip file (a PACS or viewer export) unpacked into a scratch
    folder (:mod:`covplan.scratch`) named after it for the duration of the block."""
    if not (path.is_file() and path.suffix.lower() == ZIP_SUFFIX):
        yield path
        return
    with scratch_folder("covplan-dicom-") as temporary:
        folder = temporary / path.stem
        try:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(folder)  # zipfile drops absolute and ".." parts of member names
        except (zipfile.BadZipFile, OSError) as error:
            raise CovplanError(f"{path}: cannot be unpacked ({error}); give the folder or a complete zip") from error
        yield folder
