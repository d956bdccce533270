"""report.csv: one row per patient (its cases, lung and lesion amounts, shares of the lung,
grade, the source data's own values and, with uncertainty, the score to sort by), an
unknown value an empty cell."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from covplan.labels.roles import INFECTION_REGION, column_name
from covplan.reporting.measure import PatientSummary


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def patient_row(patient: PatientSummary, lesion_names: list[str], outside_lung_column: bool = False) -> dict[str, Any]:
    """One line of report.csv (``None`` = unknown, an empty CSV cell); with
    ``outside_lung_column`` (region-based models) also the lesion amount outside the lung."""
    unit = patient.unit
    row: dict[str, Any] = {"patient_id": patient.patient_id, "cases": len(patient.case_ids),
                           "positive_cases": len(patient.positive_case_ids),
                           "result": "positive" if patient.positive else "negative",
                           f"lung_{unit}": rounded(patient.lung, 3)}
    amounts = dict(patient.lesions) if len(lesion_names) > 1 else {}
    amounts[INFECTION_REGION] = patient.infection
    for name, amount in amounts.items():
        row[f"{column_name(name)}_{unit}"] = rounded(amount, 3)
        row[f"{column_name(name)}_percent_of_lung"] = rounded(patient.percent_of_lung(amount), 2)
    if outside_lung_column:
        row[f"lesion_outside_lung_{unit}"] = rounded(patient.lesion_outside_lung, 3)
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
        row["lesion_uncertainty"] = round(max(scores), 4) if scores else None
    return sorted(rows, key=lambda row: -1.0 if row["lesion_uncertainty"] is None else row["lesion_uncertainty"],
                  reverse=True)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as CSV, the columns in the order they first appear."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
