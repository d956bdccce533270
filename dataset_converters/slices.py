"""2D slice data: covplan's slice format (docs/formats.md) and the COVID-SemiSeg layout
(``Imgs/*.jpg``, ``GT/*.png`` palette masks). Each slice becomes one 2D case."""

from __future__ import annotations

import csv
import logging
from functools import partial
from pathlib import Path

import click
import numpy as np
import SimpleITK as sitk
from PIL import Image

import covplan
from covplan.conversion.dataset import (ConversionSummary, DatasetSpec, LoadedCase, SourceCase, convert_cases,
                                        ct_channel_names)
from covplan.conversion.images import SKIP_HINT, image_like, map_to_domain
from covplan.conversion.slice_format import (DIAGNOSES, IMAGE_SUFFIXES, LESION_COLOURS, LESION_LABELS,
                                             MASK_SUFFIXES, MASKS_FOLDER, MIXED_SPACING_RATIO, PATIENTS_CSV,
                                             PATIENTS_CSV_COLUMNS, SEMISEG_IMAGES, SEMISEG_LABELS, SEMISEG_MASKS,
                                             SEVERITIES, SLICES_FOLDER)
from covplan.conversion.slice_reader import DEFAULT_PIXEL_SPACING_MM, open_picture, read_slice
from covplan.conversion.unlabelled import labels_with_ignore, mark_unlabelled, take_unlabelled, unlabelled_value_option
from covplan.errors import CovplanError

logger = logging.getLogger(__name__)

def _check_patient_row(row: dict[str, str], line: int, path: Path) -> None:
    where = f"{path}, line {line}"
    if not row["patient_id"] or "/" in row["patient_id"]:
        raise CovplanError(f"{where}: patient_id {row['patient_id']!r} is empty or not a folder name; fix the row")
    if row["diagnosis"] not in DIAGNOSES:
        raise CovplanError(f"{where}: diagnosis {row['diagnosis']!r} is not one of {', '.join(DIAGNOSES)}; fix the row")
    if row["severity"] not in SEVERITIES:
        raise CovplanError(f"{where}: severity {row['severity']!r} is not one of mild, moderate, severe or empty; "
                           f"fix the row")
    spacing = row.get("pixel_spacing_mm") or str(DEFAULT_PIXEL_SPACING_MM)
    try:
        spacing_mm = float(spacing)
    except ValueError:
        spacing_mm = float("nan")
    if not spacing_mm > 0:
        raise CovplanError(f"{where}: pixel_spacing_mm {spacing!r} is not a positive number; fix the row")


def read_patients(source_dir: Path) -> dict[str, dict[str, str]]:
    """``patients.csv`` by patient id, each row checked."""
    path = source_dir / PATIENTS_CSV
    with path.open(newline="", encoding="utf-8-sig") as table:  # -sig: spreadsheets write a BOM
        reader = csv.DictReader(table)
        missing = [column for column in PATIENTS_CSV_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise CovplanError(f"{path}: columns {missing} missing; the header must name "
                               f"{', '.join(PATIENTS_CSV_COLUMNS)} (see docs/formats.md)")
        patients: dict[str, dict[str, str]] = {}
        for line, row in enumerate(reader, start=2):
            row = {key: (value or "").strip() for key, value in row.items() if key}
            _check_patient_row(row, line, path)
            if row["patient_id"] in patients:
                raise CovplanError(f"{path}, line {line}: patient {row['patient_id']} is listed twice; merge the rows")
            patients[row.pop("patient_id")] = row
    return patients


def _slice_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."))


def find_slice_format_cases(source_dir: Path, patients: dict[str, dict[str, str]]) -> list[SourceCase]:
    """One case per slice of every patient in ``patients.csv``."""
    folders = {path.name for path in source_dir.iterdir() if path.is_dir() and not path.name.startswith(".")}
    unlisted = sorted(folders - set(patients))
    if unlisted:
        raise CovplanError(f"{source_dir / PATIENTS_CSV}: no row for patient folders {unlisted}; add them "
                           f"to the table")
    cases = []
    for patient_id in sorted(patients):
        slices_dir = source_dir / patient_id / SLICES_FOLDER
        slices = _slice_files(slices_dir) if slices_dir.is_dir() else []
        if not slices:
            raise CovplanError(f"{slices_dir}: no slices (.png, .jpg, .dcm) for patient {patient_id} of "
                               f"{PATIENTS_CSV}; add them or remove the row")
        for slice_path in slices:
            masks = _mask_files(source_dir / patient_id / MASKS_FOLDER, slice_path.stem)
            cases.append(SourceCase(f"{patient_id}_{slice_path.stem}", patient_id, "train",
                                    {"image": slice_path, **masks}))
    return cases


def _mask_files(folder: Path, stem: str) -> dict[str, Path]:
    """The slice's masks by role: "mask" (index or palette) and "mask_<type>" (binary)."""
    candidates = {"mask": folder / f"{stem}.png"}
    candidates |= {f"mask_{suffix}": folder / f"{stem}_{suffix}.png" for suffix in MASK_SUFFIXES}
    return {role: path for role, path in candidates.items() if path.is_file()}


def find_semiseg_cases(source_dir: Path) -> list[SourceCase]:
    """One case, and one patient, per image in ``Imgs/``; its mask is ``GT/<name>.png``."""
    cases = []
    for image in _slice_files(source_dir / SEMISEG_IMAGES):
        case_id = f"semiseg_{image.stem}"
        cases.append(SourceCase(case_id, case_id, "train",
                                {"image": image, "mask": source_dir / SEMISEG_MASKS / f"{image.stem}.png"}))
    return cases


def _read_palette_mask(picture: Image.Image, labels: dict[str, int], path: Path) -> np.ndarray:
    rgb = np.asarray(picture.convert("RGB"))
    lesions = np.zeros(rgb.shape[:2], dtype=np.uint8)
    known = np.zeros(rgb.shape[:2], dtype=bool)
    for value in labels.values():
        match = np.all(rgb == LESION_COLOURS[value], axis=-1)
        lesions[match] = value
        known |= match
    if not known.all():
        colours = np.unique(rgb[~known], axis=0)
        allowed = ", ".join(f"{LESION_COLOURS[v]} {name}" for name, v in labels.items())
        raise CovplanError(f"{path}: {int((~known).sum())} pixels have colours outside the palette "
                           f"({', '.join(map(str, map(tuple, colours[:3].tolist())))}); allowed: {allowed}; "
                           f"fix the mask {SKIP_HINT}")
    return lesions


def _read_index_mask(picture: Image.Image, labels: dict[str, int], path: Path,
                     unlabelled_value: int | None) -> np.ndarray:
    values = np.asarray(picture)
    unexpected = sorted(set(np.unique(values).tolist()) - set(labels.values()) - {unlabelled_value})
    if unexpected:
        raise CovplanError(f"{path}: label values {unexpected} are outside {sorted(labels.values())}; binary "
                           f"masks (0/255) must be named <slice>_<type>.png (see docs/formats.md) {SKIP_HINT}")
    return values.astype(np.uint8)


def _read_binary_masks(masks: dict[str, Path]) -> np.ndarray:
    lesions = None
    for role in sorted(masks, key=lambda r: MASK_SUFFIXES[r.removeprefix("mask_")]):  # higher label wins
        path, value = masks[role], MASK_SUFFIXES[role.removeprefix("mask_")]
        binary = np.asarray(open_picture(path).convert("L"))
        if not set(np.unique(binary).tolist()) <= {0, 1, 255}:
            raise CovplanError(f"{path}: a binary mask must hold only 0 and 255 (or 0 and 1); fix it {SKIP_HINT}")
        lesions = np.zeros(binary.shape, dtype=np.uint8) if lesions is None else lesions
        if binary.shape != lesions.shape:
            raise CovplanError(f"{path}: size differs from the other masks of this slice; fix it {SKIP_HINT}")
        lesions[binary > 0] = value
    return lesions


def read_lesion_mask(case: SourceCase, labels: dict[str, int], lesions_optional: bool,
                     unlabelled_value: int | None = None) -> np.ndarray | None:
    """The slice's lesion labels from a palette, label-index or per-type binary mask; None
    when it has no mask and ``lesions_optional`` (a patient without lesions). A label-index
    mask may also hold ``unlabelled_value``."""
    roles = {role: path for role, path in case.source_files.items() if role.startswith("mask")}
    if "mask" in roles and len(roles) > 1:
        raise CovplanError(f"{roles['mask']}: both a mask and per-type binary masks exist for "
                           f"{case.source_files['image']}; keep one kind")
    if not roles or ("mask" in roles and not roles["mask"].is_file()):
        if lesions_optional:
            return None
        expected = roles.get("mask", case.source_files["image"].parent.parent / MASKS_FOLDER /
                             f"{case.source_files['image'].stem}.png")
        raise CovplanError(f"{expected}: mask missing for {case.source_files['image']}; add it (all black "
                           f"if the slice has no lesion) {SKIP_HINT}")
    if "mask" not in roles:
        return _read_binary_masks(roles)
    picture = open_picture(roles["mask"])
    if picture.mode in ("P", "RGB", "RGBA"):
        return _read_palette_mask(picture, labels, roles["mask"])
    return _read_index_mask(picture, labels, roles["mask"], unlabelled_value)


def load_case(case: SourceCase, labels: dict[str, int], intensity: str, pixel_spacing_mm: dict[str, float],
              healthy: frozenset[str], merge_lesions: bool, unlabelled_value: int | None,
              dataset_labels: dict[str, int], uniform_spacing_mm: float | None = None) -> LoadedCase:
    """Read one slice and its mask onto one 2D grid, in the dataset's intensity domain;
    the mask's ``labels`` become ``dataset_labels`` (merged lesions, the ignore label);
    with ``uniform_spacing_mm`` every slice gets that pixel spacing, DICOM headers aside."""
    image_path = case.source_files["image"]
    image, source_domain = read_slice(image_path, pixel_spacing_mm.get(case.patient_id, DEFAULT_PIXEL_SPACING_MM))
    if uniform_spacing_mm is not None:
        image.SetSpacing((uniform_spacing_mm, uniform_spacing_mm))
    lesions = read_lesion_mask(case, labels, case.patient_id in healthy, unlabelled_value)
    label_from_file = lesions is not None
    unlabelled = None
    if lesions is not None:
        lesions, unlabelled = take_unlabelled(lesions, unlabelled_value)
    if lesions is None:
        lesions = np.zeros(sitk.GetArrayViewFromImage(image).shape, dtype=np.uint8)
    if lesions.shape != sitk.GetArrayViewFromImage(image).shape:
        raise CovplanError(f"{image_path}: slice size {image.GetSize()} differs from its mask's "
                           f"{lesions.shape[::-1]}; pair it with the right mask {SKIP_HINT}")
    if merge_lesions:
        lesions = (lesions > 0).astype(np.uint8)
    lesions = mark_unlabelled(lesions, unlabelled, dataset_labels)
    image, transform = map_to_domain(image, source_domain, intensity, image_path)
    return LoadedCase([image], image_like(lesions, image), source_domain, transform, label_from_file)


def _header_spacing(path: Path) -> float | None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:  # an unreadable slice is reported when it is converted
        return None
    return float(min(reader.GetSpacing()[:2]))


def warn_about_mixed_spacing(cases: list[SourceCase], spacing_of_patient: dict[str, float]) -> None:
    """Warn when DICOM slices (spacing from their headers) and PNG/JPG slices (spacing
    assumed: patients.csv or 1 mm) lie far apart: at one planned spacing some slices would
    be resampled to many times the pixels of others."""
    dicom = {case.case_id: _header_spacing(case.source_files["image"]) for case in cases
             if case.source_files["image"].suffix.lower() == ".dcm"}
    dicom = {case_id: spacing for case_id, spacing in dicom.items() if spacing is not None}
    pictures = {case.case_id: spacing_of_patient.get(case.patient_id, DEFAULT_PIXEL_SPACING_MM) for case in cases
                if case.source_files["image"].suffix.lower() != ".dcm"}
    if not dicom or not pictures:
        return
    spacings = [*dicom.values(), *pictures.values()]
    if max(spacings) / min(spacings) <= MIXED_SPACING_RATIO:
        return
    logger.warning("%d DICOM slices have %s mm pixels (from their headers), %d PNG/JPG slices are assumed to have %s "
                   "mm (patients.csv pixel_spacing_mm, else %g mm): planned at one spacing, some slices become %.0fx "
                   "as many pixels a side as others, and training and validation slow down; give one spacing for "
                   "all with --pixel-spacing MM, or each patient's in patients.csv (docs/formats.md)",
                   len(dicom), _span(dicom.values()), len(pictures), _span(pictures.values()),
                   DEFAULT_PIXEL_SPACING_MM, max(spacings) / min(spacings))


def _span(values) -> str:
    low, high = min(values), max(values)
    return f"{low:g}" if low == high else f"{low:g} to {high:g}"


class SlicesConverter(covplan.ConverterPlugin):
    """2D slices with lesion-type masks: covplan's slice format or COVID-SemiSeg -> 0 background, 1 GGO, 2 consolidation, 3 fibrosis.

    covplan's slice format (docs/formats.md): patients.csv (patient_id, diagnosis,
    severity, optional pixel_spacing_mm) and per patient <id>/slices/*.png|jpg|dcm with
    <id>/masks/<slice>.png (label indices or palette colours) or
    <id>/masks/<slice>_<ggo|consolidation|fibrosis>.png (binary 0/255). Slices of
    healthy patients need no mask. The COVID-SemiSeg layout (Imgs/*.jpg, GT/*.png
    palette masks) is detected and gives 0 background, 1 GGO, 2 consolidation, each slice
    its own patient. DICOM slices are read in HU (rescale slope and intercept applied,
    padding set to air, pixel spacing from the header); PNG/JPG slices are 8-bit grey.
    Each slice is written as a 2D NIfTI image, which nnU-Net reads as 2D data with its
    pixel spacing. --unlabelled-value V marks value V of label-index masks as not
    annotated: it becomes the ignore label (after the highest label) that training and
    evaluation skip.

    \b
    Example:
        covplan demo-data demo_work/raw_slices --kind slices
        covplan convert slices demo_work/raw_slices demo_work/converted_slices
    """

    name = "slices"

    def click_params(self) -> list[click.Parameter]:
        return [
            click.Option(["--intensity"], type=click.Choice(["auto", "grey8", "hu"]), default="auto",
                         show_default=True,
                         help="Domain of the written images: auto = hu when every slice is DICOM, else grey8 "
                              "(DICOM slices clipped to [-1250, 250] and scaled to 0..255)."),
            click.Option(["--merge-lesions"], is_flag=True,
                         help="Write one infection label (1) instead of one label per lesion type."),
            unlabelled_value_option(),
            click.Option(["--pixel-spacing"], type=click.FloatRange(min=0, min_open=True), default=None,
                         metavar="MM",
                         help="Pixel spacing in mm of every slice, DICOM slices included (their headers are then "
                              "ignored) [default: DICOM slices their header's, PNG/JPG slices patients.csv's "
                              "pixel_spacing_mm or 1 mm; a mixture far apart is warned about]."),
        ]

    def convert(self, source_dir: Path, output_dir: Path, intensity: str = "auto", merge_lesions: bool = False,
                unlabelled_value: int | None = None, pixel_spacing: float | None = None, workers: int = 1,
                skip_bad: bool = False) -> ConversionSummary:
        if (source_dir / SEMISEG_IMAGES).is_dir() and (source_dir / SEMISEG_MASKS).is_dir():
            cases = find_semiseg_cases(source_dir)
            patients = {case.patient_id: {"diagnosis": "covid", "severity": ""} for case in cases}
            labels = {name: value for value, name in SEMISEG_LABELS.items()}
        elif (source_dir / PATIENTS_CSV).is_file():
            patients = read_patients(source_dir)
            cases = find_slice_format_cases(source_dir, patients)
            labels = {name: value for value, name in LESION_LABELS.items()}
        else:
            raise CovplanError(f"{source_dir}: neither {PATIENTS_CSV} (covplan's slice format, docs/formats.md) "
                               f"nor {SEMISEG_IMAGES}/ and {SEMISEG_MASKS}/ (COVID-SemiSeg) found; point SRC_DIR "
                               f"at the dataset's top folder")
        if intensity == "auto":
            all_dicom = bool(cases) and all(c.source_files["image"].suffix.lower() == ".dcm" for c in cases)
            intensity = "hu" if all_dicom else "grey8"
        spacing_of_patient = {p: float(row.get("pixel_spacing_mm") or DEFAULT_PIXEL_SPACING_MM)
                              for p, row in patients.items()}
        if pixel_spacing is None:
            warn_about_mixed_spacing(cases, spacing_of_patient)
        dataset_labels = labels_with_ignore({"background": 0, "infection": 1} if merge_lesions else labels,
                                            unlabelled_value)
        load = partial(load_case, labels=labels, intensity=intensity, merge_lesions=merge_lesions,
                       unlabelled_value=unlabelled_value, dataset_labels=dataset_labels,
                       pixel_spacing_mm=spacing_of_patient, uniform_spacing_mm=pixel_spacing,
                       healthy=frozenset(p for p, row in patients.items() if row["diagnosis"] == "healthy"))
        spec = DatasetSpec(self.name, ct_channel_names(intensity), dataset_labels, intensity,
                           description="2D CT slices with lesion-type masks converted by covplan",
                           patients={p: {"diagnosis": row["diagnosis"], "severity": row["severity"]}
                                     for p, row in patients.items()})
        return convert_cases(source_dir, output_dir, cases, load, spec, workers, skip_bad)
