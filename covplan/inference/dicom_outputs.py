"""Label maps of a DICOM series written back as a DICOM-SEG (highdicom) that a viewer or
PACS shows over its source series, and a DICOM-SEG read back as a label map (``covplan
report``); the RTSTRUCT lives in :mod:`covplan.inference.rtstruct`. highdicom comes with
``pip install 'covplan[dicom]'`` and is imported where it is used.

A segment per foreground label: segment number = label value (DICOM numbers segments
1..N, and so does nnU-Net's label list), labelled with the dataset.json name and coded
SNOMED CT "Lung" (anatomical structure) for lung labels, "Lesion" (morphologically
abnormal structure) for every other label. Frame k of the label map is the source slice
k in the order :func:`covplan.conversion.dicom_series.sorted_series` stacks them, the
order the volume was read in, so the segmentation references each slice's own SOP
instance and lies on the source's frame of reference.

Anonymised exports and SimpleITK-written series often lack attributes both outputs copy
from their source. What DICOM lets a derived object supply is supplied
(:func:`completed_header`): the patient and study attributes of type 2 are written empty
("unknown"), a series without FrameOfReferenceUID gets one of its own (derived from its
SeriesInstanceUID, so its DICOM-SEG and RTSTRUCT share it) and a missing SliceThickness
becomes the spacing between the slices' positions. What nothing may replace, the study
the output joins and the instances it references, is checked before any prediction
(:func:`check_dicom_source`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from covplan.atomic import atomic_file
from covplan.conversion.dicom_series import SeriesFiles, series_geometry, series_of
from covplan.errors import CovplanError
from covplan.labels.dicom_seg import dicom_library
from covplan.labels.roles import label_roles
from covplan.version import __version__

logger = logging.getLogger(__name__)

MANUFACTURER = "covplan"
SERIES_NUMBER = 9901  # beside the scanner's own series numbers in a viewer's list
# The patient and study attributes of type 2 that the outputs copy from their source;
# empty where the source lacks them.
TYPE_2_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                   "ReferringPhysicianName", "StudyID", "AccessionNumber")
# Type 1 attributes of the source that no output may make up.
REQUIRED_KEYWORDS = ("StudyInstanceUID", "SOPInstanceUID")


@dataclass(frozen=True)
class SegmentLabel:
    value: int
    name: str
    is_lung: bool


def segment_labels(dataset_json: Mapping[str, Any]) -> list[SegmentLabel]:
    """The model's foreground labels as DICOM segments; refused unless numbered 1..N."""
    roles = label_roles(dataset_json)
    values = sorted(roles.names)
    if values != list(range(1, len(values) + 1)):
        raise CovplanError(f"the model's label values {values} are not 1..{len(values)}, which DICOM-SEG segment "
                           f"numbers must be; write NIfTI (--output-format nifti) instead")
    return [SegmentLabel(value, roles.names[value], value in roles.lung_labels) for value in values]


def _segment_description(label: SegmentLabel, algorithm_name: str):
    highdicom = dicom_library("highdicom")
    category, kind = ((codes.SCT.AnatomicalStructure, codes.SCT.Lung) if label.is_lung
                      else (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion))
    algorithm = highdicom.AlgorithmIdentificationSequence(name=algorithm_name, version=__version__,
                                                          family=codes.DCM.ArtificialIntelligence)
    return highdicom.seg.SegmentDescription(
        segment_number=label.value, segment_label=label.name, segmented_property_category=category,
        segmented_property_type=kind, algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm)


def check_dicom_source(source_files: tuple[Path, ...], output_format: str) -> None:
    """Refuse a series that a DICOM output cannot reference: one whose slices lack the
    study or instance UIDs (nothing may replace them)."""
    series = series_of(source_files)
    for path, header in zip(series.files, series.headers):
        missing = [keyword for keyword in REQUIRED_KEYWORDS if not header.get(keyword)]
        if missing:
            raise CovplanError(f"{path}: no {'/'.join(missing)}, which --output-format {output_format} must "
                               f"reference; export the series with its UIDs or predict with --output-format nifti")


def frame_of_reference_uid(series_uid: str) -> str:
    """The FrameOfReferenceUID given to a series that has none: the same for every output of it."""
    return generate_uid(entropy_srcs=[series_uid, "FrameOfReferenceUID"])


def completed_header(header: Any, series_uid: str, slice_spacing: float) -> Any:
    """A copy of a source slice's header with what DICOM lets a derived object supply
    where the source lacks it (see the module docstring)."""
    header = copy.deepcopy(header)
    for keyword in TYPE_2_KEYWORDS:
        if keyword not in header:
            setattr(header, keyword, "")
    if not header.get("FrameOfReferenceUID"):
        header.FrameOfReferenceUID = frame_of_reference_uid(series_uid)
    if not header.get("SliceThickness"):
        header.SliceThickness = round(slice_spacing, 6)
    return header


def _log_supplied(series: SeriesFiles, slice_spacing: float) -> None:
    first, supplied = series.headers[0], []
    if not first.get("FrameOfReferenceUID"):
        supplied.append(f"a FrameOfReferenceUID of its own ({frame_of_reference_uid(series.series_uid)})")
    if not first.get("SliceThickness"):
        supplied.append(f"the slice spacing {slice_spacing:.3f} mm as SliceThickness")
    if supplied:
        logger.warning("%s: series %s lacks them, so its DICOM output gets %s", series.files[0].parent,
                       series.series_uid, " and ".join(supplied))


def labelled_sources(labels: np.ndarray, source_files: tuple[Path, ...]) -> list[Any]:
    """The headers of the source slices ``labels`` (z, y, x) was predicted on, in stacking
    order and completed by :func:`completed_header` (no pixel data: neither output needs it)."""
    series = series_of(source_files)
    geometry = series_geometry(series)
    slice_spacing = geometry.spacing[2]
    _log_supplied(series, slice_spacing)
    sources = [completed_header(series.headers[index], series.series_uid, slice_spacing) for index in geometry.order]
    if labels.shape != (len(sources), sources[0].Rows, sources[0].Columns):
        raise CovplanError(f"{source_files[0].parent}: the label map {labels.shape} does not lie on the series' "
                           f"{len(sources)} slices of {sources[0].Rows} x {sources[0].Columns}")
    return sources


def write_dicom_seg(labels: np.ndarray, source_files: tuple[Path, ...], dataset_json: Mapping[str, Any],
                    algorithm_name: str, target: Path) -> None:
    """``labels`` (z, y, x, stacked as the source series) as a binary DICOM-SEG at ``target``."""
    highdicom = dicom_library("highdicom")
    segments = segment_labels(dataset_json)
    sources = labelled_sources(labels, source_files)
    segmentation = highdicom.seg.Segmentation(
        source_images=sources, pixel_array=labels.astype(np.uint8 if len(segments) < 256 else np.uint16),
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(label, algorithm_name) for label in segments],
        series_instance_uid=highdicom.UID(), series_number=SERIES_NUMBER, sop_instance_uid=highdicom.UID(),
        instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name=algorithm_name,
        software_versions=__version__, device_serial_number="none", series_description=f"{algorithm_name} segmentation")
    with atomic_file(target) as temporary:
        segmentation.save_as(temporary)

