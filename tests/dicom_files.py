"""DICOM series written with pydicom, as a scanner's export holds them: CT Image Storage
slices in a shuffled file order, a localizer beside them, stored values with a rescale
intercept and padding. Shared by the DICOM input and output tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.1002"
PATIENT = {"PatientID": "PAT-0042", "PatientName": "Doe^Jane", "PatientBirthDate": "19600101", "PatientSex": "F"}
INTERCEPT = -1024.0


def ct_slice(stored: np.ndarray, position: tuple[float, float, float], pixel_spacing: tuple[float, float],
             series_uid: str, instance: int, **tags: Any) -> pydicom.Dataset:
    """One CT slice of stored values (int16) at ``position``, axial unless told otherwise."""
    sop_class = tags.pop("SOPClassUID", CT_IMAGE_STORAGE)
    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = sop_class
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    header = {
        "SOPClassUID": sop_class, "SOPInstanceUID": dataset.file_meta.MediaStorageSOPInstanceUID,
        "Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"], "Manufacturer": "covplan tests",
        **PATIENT, "StudyInstanceUID": STUDY_UID, "StudyDate": "20200401", "StudyTime": "120000",
        "StudyID": "1", "AccessionNumber": "ACC7", "ReferringPhysicianName": "", "SeriesInstanceUID": series_uid,
        "SeriesNumber": 2, "InstanceNumber": instance, "FrameOfReferenceUID": FRAME_OF_REFERENCE_UID,
        "PositionReferenceIndicator": "", "PatientPosition": "HFS",
        "ImagePositionPatient": [float(value) for value in position],
        "ImageOrientationPatient": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], "PixelSpacing": list(pixel_spacing),
        "SliceThickness": 9.0,  # deliberately wrong: the spacing comes from the positions
        "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2", "Rows": stored.shape[0],
        "Columns": stored.shape[1], "BitsAllocated": 16, "BitsStored": 16, "HighBit": 15, "PixelRepresentation": 1,
        "RescaleIntercept": INTERCEPT, "RescaleSlope": 1.0, "KVP": 120,
        **tags}
    for keyword, value in header.items():
        setattr(dataset, keyword, value)
    dataset.PixelData = stored.astype(np.int16).tobytes()
    return dataset


def write_ct_series(folder: Path, hu: np.ndarray, spacing_xyz: tuple[float, float, float],
                    origin: tuple[float, float, float] = (-100.0, -80.0, -300.0),
                    z_positions: list[float] | None = None,
                    series_uid: str | None = None, name: str = "ct", **tags: Any) -> str:
    """``hu`` (z, y, x) as one file per slice (stored = HU - intercept), named in reverse so
    that file order is not slice order; returns the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    if z_positions is None:
        z_positions = [origin[2] + index * spacing_xyz[2] for index in range(len(hu))]
    for index, (plane, z) in enumerate(zip(hu, z_positions)):
        dataset = ct_slice(np.asarray(plane) - INTERCEPT, (origin[0], origin[1], z), spacing_xyz[1::-1], series_uid,
                           index + 1, **tags)
        dataset.save_as(folder / f"{name}_{len(hu) - index:03d}.dcm", enforce_file_format=True)
    return series_uid
