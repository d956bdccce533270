"""The patients overview at the top of report.html: one bar per patient, its infection
share of the lung over the severity bands, as inline SVG (sharp at any zoom, a few kB, and
each bar names its patient and value when pointed at)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from covplan.labels.roles import INFECTION_REGION, column_name
from covplan.reporting.severity import SEVERITY_BANDS

# Per grade (0 none ... 5 critical): the band behind the bars, the bar.
BAND_COLOURS = ("#ffffff", "#e6f2dc", "#fbf1c7", "#fde0c2", "#f8cbc4", "#eeb7cd")
BAR_COLOURS = ("#999999", "#6a9f4f", "#d4a300", "#e67e22", "#cf3b30", "#a3195b")
UNKNOWN_BAR = "#5b7fa6"
LABEL_WIDTH, PLOT_WIDTH, VALUE_WIDTH = 150, 420, 70
ROW, BAR, TOP, BOTTOM = 18, 12, 34, 26
MAX_ID_CHARACTERS = 20


def _share_axis_end(largest: float) -> float:
    """The upper bound of the band the largest share lies in: the bands stay readable
    when every share is small."""
    bounds = [band.lower_percent for band in SEVERITY_BANDS[2:]] + [100.0]
    return next(bound for bound in bounds if largest < bound or bound == 100.0)


def _x(value: float, axis_end: float) -> float:
    return LABEL_WIDTH + PLOT_WIDTH * value / axis_end


def _tick(value: float, axis_end: float, text: str, height: int) -> str:
    return f'<text class="tick" x="{_x(value, axis_end):.1f}" y="{height - 8}" text-anchor="middle">{text}</text>'


def _bands(axis_end: float, height: int) -> list[str]:
    """The severity bands up to ``axis_end`` percent, named above, their bounds below."""
    parts = []
    uppers = [band.lower_percent for band in SEVERITY_BANDS[2:]] + [100.0]
    for band, upper in zip(SEVERITY_BANDS[1:], uppers):
        if band.lower_percent >= axis_end:
            break
        left, right = _x(band.lower_percent, axis_end), _x(min(upper, axis_end), axis_end)
        parts.append(f'<rect x="{left:.1f}" y="{TOP}" width="{right - left:.1f}" height="{height - TOP - BOTTOM}" '
                     f'fill="{BAND_COLOURS[band.grade]}"/>')
        parts.append(f'<text x="{(left + right) / 2:.1f}" y="{TOP - 6}" text-anchor="middle">{band.name}</text>')
        parts.append(_tick(band.lower_percent, axis_end, f"{band.lower_percent:g}", height))
    return parts + [_tick(axis_end, axis_end, f"{axis_end:g} %", height)]


def patients_overview_svg(rows: Sequence[Mapping[str, Any]], unit: str) -> str:
    """Each patient's infection share of the lung over the severity bands, largest first;
    without any known lung, each patient's infection amount in ``unit`` (no bands)."""
    share_column = f"{column_name(INFECTION_REGION)}_percent_of_lung"
    amount_column = f"{column_name(INFECTION_REGION)}_{unit}"
    by_share = any(row.get(share_column) is not None for row in rows)
    column = share_column if by_share else amount_column
    ordered = sorted(rows, key=lambda row: (row.get(column) is None, -(row.get(column) or 0.0), row["patient_id"]))
    largest = max((row[column] for row in ordered if row.get(column) is not None), default=0.0)
    axis_end = _share_axis_end(largest) if by_share else (largest or 1.0)
    height = TOP + ROW * len(ordered) + BOTTOM
    parts = _bands(axis_end, height) if by_share else [_tick(axis_end, axis_end, f"{axis_end:.1f} {unit}", height)]
    for index, row in enumerate(ordered):
        y = TOP + index * ROW + (ROW - BAR) / 2
        patient = str(row["patient_id"])
        shown = patient if len(patient) <= MAX_ID_CHARACTERS else patient[:MAX_ID_CHARACTERS - 1] + "…"
        value = row.get(column)
        text = "n/a" if value is None else f"{value:.1f} {'%' if by_share else unit}"
        grade = row.get("severity_grade")
        colour = BAR_COLOURS[grade] if by_share and grade is not None else UNKNOWN_BAR
        width = 0.0 if value is None else _x(value, axis_end) - LABEL_WIDTH
        tip = html.escape(f"{patient}: {text}" + (f", {row['severity']}" if row.get("severity") else ""))
        parts.append(f'<g><title>{tip}</title>'
                     f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR - 2:.1f}" text-anchor="end">{html.escape(shown)}</text>'
                     f'<rect x="{LABEL_WIDTH}" y="{y:.1f}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>'
                     f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + BAR - 2:.1f}">{text}</text></g>')
    total_width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    body = "\n".join(parts)
    what = "infection share of the lung" if by_share else f"infection ({unit}; lung unknown, no grade)"
    return (f'<svg class="overview" xmlns="http://www.w3.org/2000/svg" width="{total_width}" height="{height}" '
            f'viewBox="0 0 {total_width} {height}" role="img" aria-label="{what} per patient">\n'
            f'<line x1="{LABEL_WIDTH}" y1="{TOP}" x2="{LABEL_WIDTH}" y2="{height - BOTTOM}" stroke="#666"/>\n'
            f"{body}\n</svg>")
