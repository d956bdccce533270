"""The report's pictures as PNG bytes: a slice with its masks in colour, and lesion shares
by the source data's severity grade. Drawn with matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from covplan.labels.roles import INFECTION_REGION
from covplan.reporting.measure import PatientSummary
from covplan.reporting.windows import image_windows

LUNG_COLOURS = ("tab:blue", "tab:cyan")
LESION_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
KNOWN_GRADE_ORDER = ("none", "negative", "healthy", "mild", "moderate", "severe", "critical")


def label_colours(lung_labels: Sequence[int], lesion_labels: Sequence[int]) -> dict[int, tuple[float, ...]]:
    """A colour for every label: the lungs translucent blue, each lesion type its own colour."""
    colours = {label: to_rgba(LUNG_COLOURS[index % len(LUNG_COLOURS)], 0.25) for index, label in enumerate(lung_labels)}
    colours.update({label: to_rgba(LESION_COLOURS[index % len(LESION_COLOURS)], 0.6)
                    for index, label in enumerate(lesion_labels)})
    return colours


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def overlay_png(label_slice: np.ndarray, image_slice: np.ndarray | None, colours: Mapping[int, tuple[float, ...]],
                names: Mapping[int, str], title: str, pixel_aspect: float = 1.0) -> bytes:
    """A 2D label map drawn in colour over its grey image (over black without an image)."""
    figure = Figure(figsize=(4.5, 4.8))
    axes = figure.add_subplot()
    if image_slice is not None:
        window = image_windows(image_slice)[0]
        axes.imshow(image_slice, cmap="gray", vmin=window.low, vmax=window.high, aspect=pixel_aspect, interpolation="nearest")
    else:
        axes.imshow(np.zeros(label_slice.shape), cmap="gray", vmin=0, vmax=1, aspect=pixel_aspect)
    overlay = np.zeros((*label_slice.shape, 4))
    for label, colour in colours.items():
        overlay[label_slice == label] = colour
    axes.imshow(overlay, aspect=pixel_aspect, interpolation="nearest")
    present = [label for label in colours if np.any(label_slice == label)]
    if present:
        axes.legend(handles=[Patch(color=colours[label][:3], label=names[label]) for label in present],
                    loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()
    return _png_bytes(figure)


def grade_order(grades: set[str]) -> list[str]:
    """Known grades in clinical order, then any others alphabetically."""
    known = [grade for grade in KNOWN_GRADE_ORDER if grade in grades]
    return known + sorted(grades - set(known))


def values_by_grade_png(values: Mapping[str, Mapping[str, Sequence[float]]], y_label: str) -> bytes:
    """Box plots of per-patient values (``values[measure][grade]``), grouped by grade, one
    colour per measure, with every patient drawn as a point."""
    grades = grade_order({grade for per_grade in values.values() for grade in per_grade})
    figure = Figure(figsize=(1.6 + 1.4 * len(grades), 3.6))
    axes = figure.add_subplot()
    width = 0.8 / max(len(values), 1)
    handles = []
    for index, (measure, per_grade) in enumerate(values.items()):
        colour = LESION_COLOURS[index % len(LESION_COLOURS)]
        offset = (index - (len(values) - 1) / 2) * width
        shown = [(position + offset, per_grade[grade]) for position, grade in enumerate(grades) if per_grade.get(grade)]
        axes.boxplot([points for _, points in shown], positions=[position for position, _ in shown],
                     widths=width * 0.8, showfliers=False, patch_artist=True,
                     boxprops={"facecolor": to_rgba(colour, 0.3), "edgecolor": colour},
                     medianprops={"color": colour})
        for position, points in shown:
            axes.plot(np.full(len(points), position), points, "o", color=colour, markersize=3)
        handles.append(Patch(color=colour, label=measure))
    axes.set_xticks(range(len(grades)), grades)
    axes.set_xlim(-0.6, len(grades) - 0.4)
    axes.set_xlabel("severity grade of the source data")
    axes.set_ylabel(y_label)
    axes.legend(handles=handles, fontsize=8, frameon=False)
    return _png_bytes(figure)


def severity_by_grade_png(patients: list[PatientSummary], lesion_names: list[str], lung_known: bool) -> bytes | None:
    """Lesion share (or amount, without a lung) per patient by the source data's grade;
    None when no patient has a grade with a value."""
    graded = [patient for patient in patients if patient.source.get("severity")]
    if not graded:
        return None
    measures = lesion_names + ([INFECTION_REGION] if len(lesion_names) > 1 else [])
    values: dict[str, dict[str, list[float]]] = {measure: {} for measure in measures}
    for patient in graded:
        for measure in measures:
            amount = patient.infection if measure == INFECTION_REGION else patient.lesions[measure]
            value = patient.percent_of_lung(amount) if lung_known else amount
            if value is not None:
                values[measure].setdefault(patient.source["severity"], []).append(value)
    values = {measure: per_grade for measure, per_grade in values.items() if per_grade}
    if not values:  # every graded patient's lung is unknown (no image to derive it from)
        return None
    y_label = "percent of lung" if lung_known else f"lesion amount ({patients[0].unit})"
    return values_by_grade_png(values, y_label)
