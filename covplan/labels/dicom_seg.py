"""Reading the DICOM-SEG label maps `covplan predict --output-format dicom-seg` writes: as
nnU-Net's reader interface, so evaluation and the report read them as they read NIfTI, and
their patient and study identifiers, for a report that asks for them. highdicom comes with
``covplan[dicom]``; without it the first use is refused in one line."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import pydicom
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter

from covplan.errors import CovplanError

DICOM_SEG_ENDING = ".seg.dcm"  # covplan predict --output-format dicom-seg
DICOM_EXTRA = "pip install 'covplan[dicom]'"


def dicom_library(name: str):
    """``highdicom`` (or another module of the extra), or a one-line error naming the extra."""
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        raise CovplanError(f"DICOM-SEG needs {name.replace('_', '-')}: {DICOM_EXTRA}") from error
    # highdicom logs every module it copies from the source at INFO: noise in covplan's log.
    logging.getLogger("highdicom").setLevel(logging.WARNING)
    return module


IDENTIFIER_KEYWORDS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                       "StudyTime", "AccessionNumber", "StudyDescription", "SeriesInstanceUID", "SeriesDate")


def _read_seg(path: Path):
    highdicom = dicom_library("highdicom")
    try:
        return highdicom.seg.segread(path)
    except Exception as error:  # pydicom and highdicom raise anything from ValueError to AttributeError
        raise CovplanError(f"{path}: cannot read it as a DICOM-SEG ({error})") from error


def dicom_identifiers(path: Path) -> dict[str, str]:
    """The patient and study identifiers of a DICOM-SEG (the referenced series' UID as
    ``SourceSeriesInstanceUID``), empty values left out."""
    header = pydicom.dcmread(path, stop_before_pixels=True)
    found = {keyword: str(header.get(keyword, "") or "") for keyword in IDENTIFIER_KEYWORDS}
    if "ReferencedSeriesSequence" in header:
        found["SourceSeriesInstanceUID"] = str(header.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return {keyword: value for keyword, value in found.items() if value}


class DicomSegReader(BaseReaderWriter):
    """nnU-Net's reader interface for DICOM-SEG label maps, so that ``covplan report``
    reads them as it reads NIfTI: segment numbers become label values (segments that
    overlap: the higher number wins), frames in the order of the referenced source
    instances (the order covplan writes them in, along the slice normal)."""

    supported_file_endings = [DICOM_SEG_ENDING]

    def read_images(self, image_fnames, orientation=None):
        raise CovplanError(f"{image_fnames[0]}: a DICOM-SEG holds labels, not an image; give the source series")

    def read_seg(self, seg_fname: str):
        segmentation = _read_seg(Path(seg_fname))
        instances = [item.ReferencedSOPInstanceUID for series in segmentation.ReferencedSeriesSequence
                     for item in series.ReferencedInstanceSequence]
        try:
            labels = segmentation.get_pixels_by_source_instance(source_sop_instance_uids=instances,
                                                                combine_segments=True, skip_overlap_checks=True)
        except (ValueError, RuntimeError) as error:
            raise CovplanError(f"{seg_fname}: its frames do not map to its source slices ({error})") from error
        measures = segmentation.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        slice_spacing = float(measures.get("SpacingBetweenSlices") or measures.get("SliceThickness") or 1.0)
        spacing = [slice_spacing, *(float(value) for value in measures.PixelSpacing)]
        return labels[None].astype(np.int32), {"spacing": spacing}

    def write_seg(self, seg, output_fname, properties):
        raise CovplanError(f"{output_fname}: covplan writes DICOM-SEG with `covplan predict --output-format dicom-seg`")
