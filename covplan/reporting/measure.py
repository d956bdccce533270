"""Lung and lesion amounts of one predicted label map, and their sums per patient.

Units: a volume (more than one slice) is measured in ml, a single slice in mm^2 of its
in-plane spacing. PNG slices carry no spacing; nnU-Net's reader gives them 1 x 1 mm, so
their areas are pixel counts.

The lung: lesions lie inside the lung and the converters write lesion labels over lung
labels, so the lung amount is every lung voxel plus every lesion voxel. A model without a
lung label (lesion types on slices) does not know the lung: the lung amount, the shares and
the grade stay unknown (``None``) unless a lung mask is given (a lesion voxel counts as
lung then too: thresholded lungs leave out dense consolidation).

With regions (nnU-Net's region-based labels) the lung region says where the lung is, and
a lesion region may reach beyond it: each lesion type's amount and share count its voxels
inside the lung only, and the voxels outside are reported apart (``lesion_outside_lung``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from covplan.labels.roles import LabelRoles
from covplan.reporting.severity import severity_band


@dataclass
class CaseMeasurement:
    """One case: amounts in ``unit`` (ml or mm2) per lesion type name, and where to look."""

    case_id: str
    patient_id: str
    unit: str
    lung: float | None
    lesions: dict[str, float]
    overlay_slice: int
    lesion_outside_lung: float = 0.0  # lesion amount outside the lung region, not in the shares
    lung_source: str | None = None  # "model", "lung masks", "derived" (from the image) or None: unknown

    @property
    def infection(self) -> float:
        return sum(self.lesions.values())

    @property
    def positive(self) -> bool:
        return self.infection > 0 or self.lesion_outside_lung > 0


@dataclass
class PatientSummary:
    """Sums over a patient's cases, shares of the lung in percent, and the grade."""

    patient_id: str
    unit: str
    case_ids: list[str]
    positive_case_ids: list[str]
    lung: float | None
    lesions: dict[str, float]
    source: dict[str, str] = field(default_factory=dict)
    lesion_outside_lung: float = 0.0

    @property
    def infection(self) -> float:
        return sum(self.lesions.values())

    @property
    def positive(self) -> bool:
        return bool(self.positive_case_ids)

    def percent_of_lung(self, amount: float) -> float | None:
        """``amount`` as a share of the lung; 0 when there is no lesion at all, unknown when
        the lung is unknown or empty."""
        if amount == 0:
            return 0.0
        if not self.lung:
            return None
        return 100.0 * amount / self.lung

    @property
    def severity(self) -> tuple[int, str] | None:
        share = self.percent_of_lung(self.infection)
        if share is None:
            return None
        band = severity_band(share)
        return band.grade, band.name


def measure_case(case_id: str, patient_id: str, label_map: np.ndarray, spacing: Sequence[float],
                 roles: LabelRoles, lung_mask: np.ndarray | None = None,
                 lung_mask_source: str = "lung masks") -> CaseMeasurement:
    """Measure a (z, y, x) label map with its (z, y, x) spacing in mm; ``lung_mask`` (for
    a model without lung) came from ``lung_mask_source``."""
    if label_map.shape[0] == 1:
        unit, element_size = "mm2", spacing[1] * spacing[2]
    else:
        unit, element_size = "ml", spacing[0] * spacing[1] * spacing[2] / 1000.0
    lesion_masks = {roles.names[label]: np.isin(label_map, roles.lesion_values(label)) for label in roles.lesion_labels}
    lesion_mask = np.logical_or.reduce(list(lesion_masks.values())) if lesion_masks else np.zeros_like(label_map, bool)
    lung_source = None
    if roles.lung_region:
        lung_voxels, lung_source = np.isin(label_map, roles.lung_region), "model"
    elif lung_mask is not None:
        lung_voxels, lung_source = (lung_mask > 0) | lesion_mask, lung_mask_source
    else:
        lung_voxels = None
    inside = lung_voxels if lung_voxels is not None else np.ones_like(lesion_mask)
    lesions = {name: float(np.count_nonzero(mask & inside) * element_size) for name, mask in lesion_masks.items()}
    lung = float(np.count_nonzero(lung_voxels) * element_size) if lung_voxels is not None else None
    return CaseMeasurement(case_id, patient_id, unit, lung, lesions,
                           overlay_slice=_slice_to_show(lesion_mask, lung_voxels),
                           lesion_outside_lung=float(np.count_nonzero(lesion_mask & ~inside) * element_size),
                           lung_source=lung_source)


def _slice_to_show(lesion_mask: np.ndarray, lung_mask: np.ndarray | None) -> int:
    """The axial slice with the largest lesion area, else the largest lung area, else the middle."""
    for mask in (lesion_mask, lung_mask):
        if mask is not None and mask.any():
            return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))
    return lesion_mask.shape[0] // 2


def summarise_patients(cases: Sequence[CaseMeasurement],
                       source_patients: dict[str, dict[str, str]] | None = None) -> list[PatientSummary]:
    """Sum the cases of each patient (the coarse-refine paper's lesion-to-lung area ratio per
    patient); a patient is positive when any of their cases has a lesion."""
    patients: dict[str, PatientSummary] = {}
    for case in cases:
        patient = patients.get(case.patient_id)
        if patient is None:
            source = {key: str(value) for key, value in (source_patients or {}).get(case.patient_id, {}).items()}
            patient = patients[case.patient_id] = PatientSummary(
                case.patient_id, case.unit, [], [], 0.0, dict.fromkeys(case.lesions, 0.0), source)
        patient.case_ids.append(case.case_id)
        if case.positive:
            patient.positive_case_ids.append(case.case_id)
        patient.lung = None if case.lung is None or patient.lung is None else patient.lung + case.lung
        for name, amount in case.lesions.items():
            patient.lesions[name] += amount
        patient.lesion_outside_lung += case.lesion_outside_lung
    return sorted(patients.values(), key=lambda patient: patient.patient_id)
