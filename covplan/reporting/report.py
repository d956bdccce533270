"""``covplan report``: per-patient lung and lesion amounts, severity grade and
positive/negative from a folder of predicted label maps, as CSV, JSON, overlay PNGs and
one self-contained HTML page. This module measures each case and puts the report together;
its inputs are read by ``prediction_files`` and ``source_images``, its CSV rows made by
``table``, its pictures drawn by ``figures``, each case's viewer data made by
``viewer_data`` and its page by ``html_page``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.inference.uncertainty import UNCERTAINTY_NOTE
from covplan.labels.files import read_label_map
from covplan.labels.lung_mask import derive_lung_mask
from covplan.labels.roles import LabelRoles, label_roles
from covplan.output_folder import refuse_overlap, refuse_unreplaceable, replaced_output_folder
from covplan.reporting.figures import label_colours, overlay_png, severity_by_grade_png
from covplan.reporting.html_page import render_html
from covplan.reporting.measure import CaseMeasurement, PatientSummary, measure_case, summarise_patients
from covplan.reporting.prediction_files import (
    LabelMapFolder,
    case_uncertainty,
    dicom_seg_identifiers,
    entropy_map,
    skipped_slices,
)
from covplan.reporting.severity import SEVERITY_BANDS
from covplan.reporting.source_images import matching_images, read_grey_image, shown_names
from covplan.reporting.table import patient_rows, write_csv
from covplan.reporting.viewer_data import viewer_payload

logger = logging.getLogger(__name__)

SEVERITY_PLOT = "severity_by_grade.png"
REPORT_COMMAND = "report"  # the command named in the report folder's record (covplan.output_folder)
LUNG_MASKS_SOURCE = "lung masks"
DERIVED_LUNG_SOURCE = "derived"  # from the image, by covplan.labels.lung_mask


def _patient_ids(covplan_dataset: Mapping[str, Any] | None, identifiers: dict[str, dict[str, str]]) -> dict[str, str]:
    """The patient of each case: covplan_dataset.json's, else the PatientID of a DICOM-SEG
    whose identifiers are kept, else the case itself."""
    cases = (covplan_dataset or {}).get("cases", {})
    found = {case_id: entry["PatientID"] for case_id, entry in identifiers.items() if "PatientID" in entry}
    return found | {case_id: str(entry.get("patient_id", case_id)) for case_id, entry in cases.items()}


def _case_lung_mask(case_id: str, path: Path, shape: tuple[int, ...], lung_masks: LabelMapFolder | None,
                    image: np.ndarray | None, derive_lungs: bool) -> tuple[np.ndarray | None, str]:
    """A model without lung: the case's lung mask from the mask folder, else derived from
    its image (when asked and there is one), and where it came from."""
    if lung_masks is not None:
        if case_id not in lung_masks.files:
            raise CovplanError(f"{path}: no lung mask {case_id} in the lung mask folder")
        lung_mask, _ = read_label_map(lung_masks.reader, lung_masks.files[case_id])
        if lung_mask.shape != shape:
            raise CovplanError(f"{lung_masks.files[case_id]}: shape {lung_mask.shape} differs from its "
                               f"prediction {path} {shape}")
        return lung_mask, LUNG_MASKS_SOURCE
    if derive_lungs and image is not None:
        return derive_lung_mask(image), DERIVED_LUNG_SOURCE
    return None, LUNG_MASKS_SOURCE


def _measure_cases(predictions: LabelMapFolder, roles: LabelRoles, patient_ids: Mapping[str, str],
                   images: dict[str, Path], lung_masks: LabelMapFolder | None, derive_lungs: bool,
                   prediction_dir: Path) -> tuple[list[CaseMeasurement], dict[str, bytes], dict[str, dict[str, Any]]]:
    """Each case's measurement, key-slice picture and viewer data."""
    colours = label_colours(roles.lung_labels, roles.lesion_labels)
    measurements, overlays, viewers = [], {}, {}
    for case_id, path in tqdm(predictions.files.items(), desc="report", unit="case",
                              disable=len(predictions.files) < 2):
        label_map, spacing = read_label_map(predictions.reader, path)
        roles.refuse_unnamed_values(np.unique(label_map).tolist(), path,
                                    "give the dataset.json of the model that made these predictions")
        image = read_grey_image(images[case_id], label_map.shape) if case_id in images else None
        lung_mask, lung_mask_source = (None, LUNG_MASKS_SOURCE) if roles.lung_region else \
            _case_lung_mask(case_id, path, label_map.shape, lung_masks, image, derive_lungs)
        measurement = measure_case(case_id, patient_ids.get(case_id, case_id), label_map, spacing, roles, lung_mask,
                                   lung_mask_source)
        index = measurement.overlay_slice
        title = case_id if label_map.shape[0] == 1 else f"{case_id}, axial slice {index + 1} of {label_map.shape[0]}"
        overlays[case_id] = overlay_png(label_map[index], None if image is None else image[index], colours,
                                        roles.names, title, pixel_aspect=spacing[1] / spacing[2])
        viewers[case_id] = viewer_payload(label_map, spacing, roles, image,
                                          entropy_map(prediction_dir, case_id, label_map.shape), index)
        measurements.append(measurement)
    return measurements, overlays, viewers


def lung_source_of(measurements: list[CaseMeasurement]) -> str | None:
    """Where the report's lungs came from: the one source of every case, ``mixed``, or
    None when no case's lung is known."""
    sources = {measurement.lung_source for measurement in measurements} - {None}
    if not sources:
        return None
    return sources.pop() if len(sources) == 1 else "mixed"


def _report_content(prediction_dir: Path, unit: str, lesion_names: list[str], patients: list[PatientSummary],
                    measurements: list[CaseMeasurement], outside_lung_column: bool,
                    identifiers: dict[str, dict[str, str]] | None) -> dict[str, Any]:
    """The content of report.json; ``identifiers`` (None: not kept) per case."""
    uncertainty = case_uncertainty(prediction_dir)
    return {
        "format_version": 1, "prediction_dir": str(prediction_dir.resolve()), "unit": unit,
        "identifiers": "pseudonymous" if identifiers is None else "kept",
        "lung_source": lung_source_of(measurements), "lesion_types": lesion_names,
        "derived_lung_cases": [m.case_id for m in measurements if m.lung_source == DERIVED_LUNG_SOURCE],
        "severity_bands": [{"grade": band.grade, "name": band.name, "lower_percent": band.lower_percent}
                           for band in SEVERITY_BANDS],
        "uncertainty": UNCERTAINTY_NOTE if uncertainty else None,
        "skipped_slices": skipped_slices(prediction_dir),
        "patients": patient_rows(patients, lesion_names, uncertainty, outside_lung_column),
        "cases": [{"case_id": m.case_id, "patient_id": m.patient_id, "lung": m.lung,
                   "lung_source": m.lung_source, "lesion_outside_lung": m.lesion_outside_lung,
                   "lesions": dict(m.lesions), "infection": m.infection, "positive": m.positive,
                   "overlay": f"overlays/{m.case_id}.png", "overlay_slice": m.overlay_slice,
                   **({"lesion_uncertainty": uncertainty.get(m.case_id)} if uncertainty else {}),
                   **({"identifiers": identifiers.get(m.case_id, {})} if identifiers is not None else {})}
                  for m in measurements],
    }


def build_report(prediction_dir: Path, output_dir: Path, dataset_json: Mapping[str, Any],
                 images: Path | None = None, covplan_dataset: Mapping[str, Any] | None = None,
                 lung_mask_dir: Path | None = None, overwrite: bool = False,
                 derive_lungs: bool = True, keep_identifiers: bool = False) -> dict[str, Any]:
    """Measure every predicted label map in ``prediction_dir`` and write report.csv,
    report.json, overlays/CASE.png, severity_by_grade.png (when the source data has grades)
    and report.html into ``output_dir``, all at once. Returns the content of report.json.

    A model without a lung class gets its lungs from ``lung_mask_dir``, else, with
    ``derive_lungs``, derived from each case's image in ``images``
    (:mod:`covplan.labels.lung_mask`); report.json lists the cases whose lung was derived.

    DICOM-SEG predictions carry their patient's and study's identifiers; only with
    ``keep_identifiers`` do they reach the report (each case's, and the PatientID as its
    patient); otherwise the report names cases by their file names alone."""
    # Before the work, not only after it.
    refuse_overlap(Path(output_dir), [prediction_dir, images, lung_mask_dir])
    refuse_unreplaceable(Path(output_dir), overwrite, REPORT_COMMAND)
    roles = label_roles(dataset_json)
    if not roles.lesion_labels:
        raise CovplanError("dataset.json names no lesion label (every foreground label is a lung); "
                           "nothing to report")
    predictions = LabelMapFolder.open(Path(prediction_dir), dataset_json)
    lung_masks = None
    if lung_mask_dir is not None and roles.lung_region:
        logger.warning("the model has a lung label; the lung masks in %s are not used", lung_mask_dir)
    elif lung_mask_dir is not None:
        lung_masks = LabelMapFolder.open(Path(lung_mask_dir))
    elif derive_lungs and images is None and not roles.lung_region:
        logger.warning("the model has no lung label and no --images were given: the lung, the shares and the grade "
                       "stay unknown; give --images to derive the lungs from them")
    found_images = matching_images(Path(images), predictions.files) if images is not None else {}
    without_image = sorted(set(predictions.files) - set(found_images)) if images is not None else []
    if without_image:
        lungs_unknown = derive_lungs and lung_masks is None and not roles.lung_region
        consequence = " and their lung, shares and grade stay unknown" if lungs_unknown else ""
        logger.warning("%d prediction(s) have no image in %s (CASE.ext or CASE_0000.ext), so their masks are drawn "
                       "over black%s: %s", len(without_image), images, consequence, shown_names(without_image, 5))
    identifiers = dicom_seg_identifiers(predictions) if keep_identifiers else None
    measurements, overlays, viewers = _measure_cases(
        predictions, roles, _patient_ids(covplan_dataset, identifiers or {}), found_images, lung_masks, derive_lungs,
        Path(prediction_dir))
    units = {measurement.unit for measurement in measurements}
    if len(units) > 1:
        raise CovplanError(f"{prediction_dir}: holds both volumes and single slices; report them separately")
    lesion_names = [roles.names[label] for label in roles.lesion_labels]
    patients = summarise_patients(measurements, (covplan_dataset or {}).get("patients"))
    report = _report_content(Path(prediction_dir), units.pop(), lesion_names, patients, measurements,
                             outside_lung_column=bool(roles.regions), identifiers=identifiers)
    severity_plot = severity_by_grade_png(patients, lesion_names, lung_known=report["lung_source"] is not None)
    with replaced_output_folder(Path(output_dir), overwrite, REPORT_COMMAND) as staging:
        (staging / "overlays").mkdir()
        for case_id, png in overlays.items():
            (staging / "overlays" / f"{case_id}.png").write_bytes(png)
        if severity_plot is not None:
            (staging / SEVERITY_PLOT).write_bytes(severity_plot)
        write_csv(staging / "report.csv", report["patients"])
        write_json_atomic(staging / "report.json", report)
        (staging / "report.html").write_text(render_html(report, overlays, severity_plot, viewers))
    logger.info("wrote the report of %d case(s), %d patient(s) to %s", len(measurements), len(patients), output_dir)
    return report
