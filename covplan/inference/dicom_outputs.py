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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.codedict import codes

from covplan.atomic import atomic_file
from covplan.conversion.dicom_series import series_of, sorted_series
from covplan.errors import CovplanError
from covplan.labels.dicom_seg import dicom_library
from covplan.labels.roles import label_roles
from covplan.version import __version__

MANUFACTURER = "covplan"
SERIES_NUMBER = 9901  # beside the scanner's own series numbers in a viewer's list


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


def labelled_sources(labels: np.ndarray, source_files: tuple[Path, ...]) -> list[Any]:
    """The headers of the source slices ``labels`` (z, y, x) was predicted on, in stacking
    order (no pixel data: neither output needs it)."""
    sources = list(sorted_series(series_of(source_files)).headers)
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


# What `covplan report --keep-identifiers` copies from a DICOM-SEG (the source's patient
# and study, which DICOM-SEG carries over); without it, none of them reaches the report.
