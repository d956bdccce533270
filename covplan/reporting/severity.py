"""The severity grade of a patient from the share of the lung that is infected.

covplan's choice, not taken from the three papers: the percentage bands of the per-lobe CT
severity score of Pan et al. (Radiology 2020;295:715-721; 0 none, 1 <5 %, 2 5-25 %,
3 26-49 %, 4 50-75 %, 5 >75 %), applied to the whole lung at once instead of per lobe
(covplan has no lobe segmentation). It orders patients by extent; it is not a validated
clinical score.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeverityBand:
    grade: int
    name: str
    lower_percent: float  # the band holds shares >= lower_percent (grade 0: exactly 0)


SEVERITY_BANDS = (
    SeverityBand(0, "none", 0.0),
    SeverityBand(1, "minimal", 0.0),
    SeverityBand(2, "mild", 5.0),
    SeverityBand(3, "moderate", 25.0),
    SeverityBand(4, "severe", 50.0),
    SeverityBand(5, "critical", 75.0),
)


def severity_band(infection_percent: float) -> SeverityBand:
    """The band of an infection share in percent of the lung (0 -> none, any lesion -> at
    least minimal)."""
    if infection_percent <= 0:
        return SEVERITY_BANDS[0]
    return [band for band in SEVERITY_BANDS[1:] if infection_percent >= band.lower_percent][-1]


def band_descriptions() -> list[str]:
    """One line per band, for the report's method notes."""
    bounds = [band.lower_percent for band in SEVERITY_BANDS[2:]] + [100.0]
    lines = ["0 none: no lesion"]
    lower = "> 0"
    for band, upper in zip(SEVERITY_BANDS[1:], bounds):
        lines.append(f"{band.grade} {band.name}: {lower} % and < {upper:g} %" if upper < 100
                     else f"{band.grade} {band.name}: {lower} %")
        lower = f">= {upper:g}"
    return lines
