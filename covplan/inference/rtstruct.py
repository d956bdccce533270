"""Label maps of a DICOM series written back as an RTSTRUCT, for planning systems that
take contours only (``covplan predict --output-format rtstruct``).

Written with pydicom alone: highdicom has no RT Structure Set, and rt-utils installs a
top-level ``tests`` package that shadows the project's own. One ROI per label that has
voxels (ROI number = label value, named as in dataset.json); on each slice, one closed
planar contour per outline of the label, traced by scikit-image's marching squares at 0.5
on the slice's mask. Each contour thus runs between the label's pixel centres and the
others', so filling the contours of a slice with the even-odd rule (holes are contours of
their own) gives the mask back exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from skimage.measure import find_contours

from covplan.atomic import atomic_file
from covplan.inference.dicom_outputs import MANUFACTURER, SERIES_NUMBER, SegmentLabel, labelled_sources, segment_labels
from covplan.version import __version__

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
# The study as RTSTRUCTs conventionally reference it (Study Component Management).
STUDY_REFERENCE_CLASS = "1.2.840.10008.3.1.2.3.1"
# Copied from the source slices (labelled_sources supplies the type 2 ones a source lacks).
PATIENT_STUDY_KEYWORDS = ("SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                          "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
                          "AccessionNumber", "StudyDescription")
LUNG_COLOUR = (0, 128, 255)
LESION_COLOURS = ((220, 40, 40), (255, 160, 0), (200, 0, 200), (0, 170, 0))


def _item(**attributes: Any) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def slice_contours(mask: np.ndarray, source: Any) -> list[list[float]]:
    """The outlines of one slice's 2D ``mask`` as ContourData (x, y, z in mm, flattened)
    on the source slice's plane."""
    # A border of background closes the outlines of shapes that touch the image's edge.
    outlines = find_contours(np.pad(mask, 1).astype(np.float32), 0.5)
    origin = np.asarray(source.ImagePositionPatient, dtype=float)
    cosines = np.asarray(source.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(value) for value in source.PixelSpacing)
    contours = []
    for outline in outlines:
        rows, columns = outline[:-1, 0] - 1, outline[:-1, 1] - 1  # the last point repeats the first
        points = origin + np.outer(columns * column_spacing, cosines[:3]) + np.outer(rows * row_spacing, cosines[3:])
        contours.append([round(float(value), 3) for value in points.ravel()])
    return contours


def _roi_contour(label: SegmentLabel, colour: tuple[int, int, int], masks: np.ndarray,
                 sources: list[Any]) -> Dataset | None:
    contours = []
    for mask, source in zip(masks, sources):
        if not mask.any():
            continue
        image = _item(ReferencedSOPClassUID=source.SOPClassUID, ReferencedSOPInstanceUID=source.SOPInstanceUID)
        contours += [_item(ContourImageSequence=[image], ContourGeometricType="CLOSED_PLANAR",
                           NumberOfContourPoints=len(points) // 3, ContourData=points)
                     for points in slice_contours(mask, source)]
    if not contours:
        return None
    return _item(ReferencedROINumber=label.value, ROIDisplayColor=list(colour), ContourSequence=contours)


def _structure_set(sources: list[Any], algorithm_name: str) -> Dataset:
    """The RTSTRUCT's header: patient and study from the source, its own series, and the
    source slices as the contours' image references."""
    first = sources[0]
    now = datetime.now()
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in first:
            setattr(dataset, keyword, first.get(keyword))
    attributes = {
        "SOPClassUID": RT_STRUCTURE_SET_STORAGE, "SOPInstanceUID": dataset.file_meta.MediaStorageSOPInstanceUID,
        "Modality": "RTSTRUCT", "SeriesInstanceUID": generate_uid(), "SeriesNumber": SERIES_NUMBER,
        "SeriesDescription": f"{algorithm_name} contours", "OperatorsName": "", "Manufacturer": MANUFACTURER,
        "ManufacturerModelName": algorithm_name, "SoftwareVersions": __version__,
        "InstanceCreationDate": now.strftime("%Y%m%d"), "InstanceCreationTime": now.strftime("%H%M%S"),
        "StructureSetLabel": algorithm_name[:16], "StructureSetDate": now.strftime("%Y%m%d"),
        "StructureSetTime": now.strftime("%H%M%S"), "InstanceNumber": 1,
        "FrameOfReferenceUID": first.FrameOfReferenceUID,
        "PositionReferenceIndicator": first.get("PositionReferenceIndicator", "")}
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    images = [_item(ReferencedSOPClassUID=source.SOPClassUID, ReferencedSOPInstanceUID=source.SOPInstanceUID)
              for source in sources]
    series = _item(SeriesInstanceUID=first.SeriesInstanceUID, ContourImageSequence=images)
    study = _item(ReferencedSOPClassUID=STUDY_REFERENCE_CLASS, ReferencedSOPInstanceUID=first.StudyInstanceUID,
                  RTReferencedSeriesSequence=[series])
    dataset.ReferencedFrameOfReferenceSequence = [_item(FrameOfReferenceUID=first.FrameOfReferenceUID,
                                                        RTReferencedStudySequence=[study])]
    return dataset


def write_rtstruct(labels: np.ndarray, source_files: tuple[Path, ...], dataset_json: Mapping[str, Any],
                   algorithm_name: str, target: Path) -> None:
    """``labels`` (z, y, x, stacked as the source series) as an RTSTRUCT at ``target``."""
    sources = labelled_sources(labels, source_files)
    dataset = _structure_set(sources, algorithm_name)
    lesion_colours = itertools.cycle(LESION_COLOURS)
    rois, contours, observations = [], [], []
    for label in segment_labels(dataset_json):
        colour = LUNG_COLOUR if label.is_lung else next(lesion_colours)
        contour = _roi_contour(label, colour, labels == label.value, sources)
        if contour is None:  # an ROI without contours is allowed, but viewers list it as broken
            continue
        rois.append(_item(ROINumber=label.value, ReferencedFrameOfReferenceUID=sources[0].FrameOfReferenceUID,
                          ROIName=label.name, ROIGenerationAlgorithm="AUTOMATIC",
                          ROIGenerationDescription=f"{algorithm_name} {__version__}"))
        contours.append(contour)
        observations.append(_item(ObservationNumber=label.value, ReferencedROINumber=label.value,
                                  RTROIInterpretedType="ORGAN" if label.is_lung else "", ROIInterpreter=""))
    dataset.StructureSetROISequence = rois
    dataset.ROIContourSequence = contours
    dataset.RTROIObservationsSequence = observations
    with atomic_file(target) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
