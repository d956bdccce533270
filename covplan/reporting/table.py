"""report.csv: one row per patient (its cases, lung and lesion amounts, shares of the lung,
grade, the source data's own values and, with uncertainty, the score to sort by), an
unknown value an empty cell. The rows keep full precision (report.json); report.csv and
report.html show them rounded for a reader (``reader_row``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from covplan.labels.roles import INFECTION_REGION, column_name
from covplan.reporting.measure import PatientSummary

AMOUNT_SUFFIXES = ("_ml", "_mm2", "_percent_of_lung")
AMOUNT_DIGITS = 1  # ml, mm² and % of lung: a tenth is finer than any segmentation is sure of
UNCERTAINTY_COLUMN = "lesion_uncertainty"
UNCERTAINTY_DIGITS = 4  # nats: small numbers, compared with each other


def _reader_value(column: str, value: Any) -> Any:
    if not isinstance(value, float):
        return value
    if column.endswith(AMOUNT_SUFFIXES):
        return round(value, AMOUNT_DIGITS)
    return round(value, UNCERTAINTY_DIGITS) if column == UNCERTAINTY_COLUMN else value


def reader_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with amounts and shares rounded to a tenth and the uncertainty to 4 digits."""
    return {column: _reader_value(column, value) for column, value in row.items()}


def patient_row(patient: PatientSummary, lesion_names: list[str], outside_lung_column: bool = False) -> dict[str, Any]:
    """One line of report.csv (``None`` = unknown, an empty CSV cell); with
    ``outside_lung_column`` (region-based models) also the lesion amount outside the lung."""
    unit = patient.unit
    row: dict[str, Any] = {"patient_id": patient.patient_id, "cases": len(patient.case_ids),
                           "positive_cases": len(patient.positive_case_ids),
                           "result": "positive" if patient.positive else "negative",
                           f"lung_{unit}": patient.lung}
    amounts = dict(patient.lesions) if len(lesion_names) > 1 else {}
    amounts[INFECTION_REGION] = patient.infection
    for name, amount in amounts.items():
        row[f"{column_name(name)}_{unit}"] = amount
        row[f"{column_name(name)}_percent_of_lung"] = patient.percent_of_lung(amount)
    if outside_lung_column:
        row[f"lesion_outside_lung_{unit}"] = patient.lesion_outside_lung
    grade = patient.severity
    row["severity_grade"], row["severity"] = grade if grade is not None else (None, None)
    row.update({f"source_{key}": value for key, value in patient.source.items()})
    return row


def patient_rows(patients: list[PatientSummary], lesion_names: list[str],
                 uncertainty: dict[str, float | None], outside_lung_column: bool) -> list[dict[str, Any]]:
    """report.csv's rows; with uncertainty, each patient's most uncertain case sets its
    score and the patients to check by hand come first."""
    rows = [patient_row(patient, lesion_names, outside_lung_column) for patient in patients]
    if not uncertainty:
        return rows
    for patient, row in zip(patients, rows):
        scores = [score for case_id in patient.case_ids if (score := uncertainty.get(case_id)) is not None]
        row[UNCERTAINTY_COLUMN] = max(scores) if scores else None
    return sorted(rows, key=lambda row: -1.0 if row[UNCERTAINTY_COLUMN] is None else row[UNCERTAINTY_COLUMN],
                  reverse=True)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as CSV, rounded for a reader, the columns in the order they first appear."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(reader_row(row) for row in rows)
