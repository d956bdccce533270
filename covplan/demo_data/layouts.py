"""Write synthetic chest CT phantoms in the raw layouts the converters read:
COVID-19-CT-Seg (Zenodo), MSD Task06_Lung, covplan's slice format and COVID-SemiSeg."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

from covplan.atomic import write_json_atomic
from covplan.conversion.images import hu_to_grey8
from covplan.conversion.output import atomic_output_dir
from covplan.conversion.slice_format import (
    LESION_COLOURS,
    MASK_SUFFIXES,
    PATIENTS_CSV,
    PATIENTS_CSV_COLUMNS,
    SEMISEG_IMAGES,
    SEMISEG_MASKS,
)
from covplan.demo_data.phantom import CONSOLIDATION, FIBROSIS, GGO, chest_phantom
from covplan.work_folder import DATASET_JSON

# AppleDouble header: what the macOS "._*" files in the MSD tarballs start with.
APPLE_DOUBLE_MAGIC = b"\x00\x05\x16\x07\x00\x02\x00\x00"

# Radiopaedia cases of COVID-19-CT-Seg are 8-bit grey, windowed by whoever exported them.
RADIOPAEDIA_WINDOW_HU = (-1100.0, 350.0)

# DICOM stored values are HU + 1024 (rescale intercept -1024); outside the scan circle the
# scanner writes this padding, as the COVID-19-NY-SBU slices do.
DICOM_PADDING_HU = -3024

# Diagnosis and severity of the demo patients, cycled.
DEMO_PATIENTS = (("covid", "moderate"), ("covid", "severe"), ("healthy", ""), ("viral pneumonia", "mild"),
                 ("covid", "mild"), ("bacterial pneumonia", ""))

KINDS = ("ct3d", "msd", "slices", "semiseg")
DEFAULT_CASES = {"ct3d": 4, "msd": 4, "slices": 6, "semiseg": 6}


def write_demo_data(output_dir: Path, kind: str, num_cases: int | None = None, size: int = 48,
                    seed: int = 0) -> Path:
    """Write ``num_cases`` phantoms of ``size`` pixels a side in the raw layout ``kind``
    into the new folder ``output_dir``; the same seed writes the same data."""
    writers: dict[str, Callable[[Path, int, int, int], None]] = {
        "ct3d": _write_covid_ct_seg, "msd": _write_msd_lung, "slices": _write_slices, "semiseg": _write_semiseg}
    with atomic_output_dir(output_dir) as staging:
        writers[kind](staging, num_cases or DEFAULT_CASES[kind], size, seed)
    return output_dir


def _save_volume(array: np.ndarray, spacing: tuple[float, ...], path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(-0.5 * s * n for s, n in zip(spacing, array.shape[::-1])))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def _write_covid_ct_seg(root: Path, num_cases: int, size: int, seed: int) -> None:
    """Even cases as coronacases in HU, odd ones as radiopaedia cases in 0..255 grey."""
    for index in range(num_cases):
        phantom = chest_phantom((max(size // 2, 4), size, size), np.random.default_rng([seed, index]),
                                (GGO, CONSOLIDATION), num_lesions=3)
        if index % 2 == 0:
            name, image = f"coronacases_{index // 2 + 1:03d}", phantom.hu
        else:
            low, high = RADIOPAEDIA_WINDOW_HU
            name = f"radiopaedia_{index}_{85000 + index}_1"
            image = np.rint((np.clip(phantom.hu, low, high) - low) / (high - low) * 255).astype(np.uint8)
        infection = phantom.lesions > 0
        _save_volume(image, phantom.spacing, root / "COVID-19-CT-Seg_20cases" / f"{name}.nii.gz")
        _save_volume(np.where(infection, 3, phantom.lungs).astype(np.uint8), phantom.spacing,
                     root / "Lung_and_Infection_Mask" / f"{name}.nii.gz")
        _save_volume(phantom.lungs, phantom.spacing, root / "Lung_Mask" / f"{name}.nii.gz")
        _save_volume(infection.astype(np.uint8), phantom.spacing, root / "Infection_Mask" / f"{name}.nii.gz")


def _write_msd_lung(root: Path, num_cases: int, size: int, seed: int) -> None:
    """A quarter of the cases (at least one) as test cases without labels; one tumour per
    training case; macOS "._*" files beside the images, as in the official tarball."""
    num_test = max(1, num_cases // 4) if num_cases > 1 else 0
    training, test = [], []
    for index in range(num_cases):
        phantom = chest_phantom((max(size // 2, 4), size, size), np.random.default_rng([seed, index]),
                                (CONSOLIDATION,), num_lesions=1)
        name = f"lung_{index + 1:03d}.nii.gz"
        if index < num_cases - num_test:
            _save_volume(phantom.hu, phantom.spacing, root / "imagesTr" / name)
            _save_volume((phantom.lesions > 0).astype(np.uint8), phantom.spacing, root / "labelsTr" / name)
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            _save_volume(phantom.hu, phantom.spacing, root / "imagesTs" / name)
            test.append(f"./imagesTs/{name}")
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        for image in sorted((root / folder).glob("lung_*.nii.gz"))[:1]:
            (root / folder / f"._{image.name}").write_bytes(APPLE_DOUBLE_MAGIC + bytes(74))
    dataset = {"name": "Lung", "description": "Synthetic lung tumour phantoms in the MSD Task06_Lung layout",
               "tensorImageSize": "3D", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "cancer"},
               "numTraining": len(training), "numTest": len(test), "training": training, "test": test}
    write_json_atomic(root / DATASET_JSON, dataset)


def _slice_phantom(seed: int, patient: int, slice_index: int, size: int, diagnosis: str):
    lesion_types = () if diagnosis == "healthy" else (GGO, CONSOLIDATION, FIBROSIS)
    return chest_phantom((1, size, size), np.random.default_rng([seed, patient, slice_index]), lesion_types,
                         num_lesions=3)


def _write_slices(root: Path, num_patients: int, size: int, seed: int) -> None:
    """Two slices per patient. Patients cycle through the slice and mask formats: PNG with
    label-index masks, JPG with binary masks per lesion type, DICOM with palette masks;
    healthy patients have no masks."""
    rows = []
    for patient in range(num_patients):
        patient_id = f"p{patient + 1:03d}"
        diagnosis, severity = DEMO_PATIENTS[patient % len(DEMO_PATIENTS)]
        rows.append({"patient_id": patient_id, "diagnosis": diagnosis, "severity": severity})
        slice_format = ("png", "jpg", "dcm")[patient % 3]
        (root / patient_id / "slices").mkdir(parents=True)
        for slice_index in range(2):
            phantom = _slice_phantom(seed, patient, slice_index, size, diagnosis)
            stem = f"{slice_index + 1:03d}"
            slice_path = root / patient_id / "slices" / f"{stem}.{slice_format}"
            if slice_format == "dcm":
                _save_dicom_slice(phantom.hu[0], phantom.spacing[:2], slice_path)
            else:
                Image.fromarray(hu_to_grey8(phantom.hu[0])).save(slice_path)
            if diagnosis != "healthy":
                _save_mask(phantom.lesions[0], root / patient_id / "masks", stem, ("index", "binary", "palette")[patient % 3])
    with (root / PATIENTS_CSV).open("w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=list(PATIENTS_CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def _save_dicom_slice(hu: np.ndarray, spacing: tuple[float, ...], path: Path) -> None:
    rows, columns = np.indices(hu.shape)
    radius = 0.5 * min(hu.shape)
    outside_scan = (rows - hu.shape[0] / 2 + 0.5) ** 2 + (columns - hu.shape[1] / 2 + 0.5) ** 2 > radius ** 2
    image = sitk.GetImageFromArray(np.where(outside_scan, DICOM_PADDING_HU, hu).astype(np.int16)[None])
    image.SetSpacing((*spacing, 2.5))
    for tag, value in {"0008|0060": "CT", "0028|1052": "-1024", "0028|1053": "1", "0018|0050": "2.5"}.items():
        image.SetMetaData(tag, value)
    sitk.WriteImage(image, str(path))


def _palette_image(lesions: np.ndarray) -> Image.Image:
    mask = Image.fromarray(lesions.astype(np.uint8), mode="P")
    mask.putpalette([channel for index in range(256) for channel in LESION_COLOURS.get(index, (0, 0, 0))])
    return mask


def _save_mask(lesions: np.ndarray, folder: Path, stem: str, mask_format: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if mask_format == "index":
        Image.fromarray(lesions.astype(np.uint8)).save(folder / f"{stem}.png")
    elif mask_format == "palette":
        _palette_image(lesions).save(folder / f"{stem}.png")
    else:
        for suffix, lesion_type in MASK_SUFFIXES.items():
            Image.fromarray(np.where(lesions == lesion_type, 255, 0).astype(np.uint8)).save(
                folder / f"{stem}_{suffix}.png")


def _write_semiseg(root: Path, num_slices: int, size: int, seed: int) -> None:
    """JPG slices in ``Imgs/`` and palette PNG masks (GGO, consolidation) in ``GT/``."""
    (root / SEMISEG_IMAGES).mkdir()
    (root / SEMISEG_MASKS).mkdir()
    for index in range(num_slices):
        phantom = chest_phantom((1, size, size), np.random.default_rng([seed, index]), (GGO, CONSOLIDATION), 3)
        Image.fromarray(hu_to_grey8(phantom.hu[0])).save(root / SEMISEG_IMAGES / f"{index}.jpg")
        _palette_image(phantom.lesions[0]).save(root / SEMISEG_MASKS / f"{index}.png")
