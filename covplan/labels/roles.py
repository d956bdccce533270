"""What each label of a dataset is (lung, lesion type, ignore), read from the names in
nnU-Net's dataset.json ``labels``, and the merged regions that follow from it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.work_folder import DATASET_JSON

LUNGS_REGION = "lungs"
INFECTION_REGION = "infection"


@dataclass(frozen=True)
class LabelRoles:
    """The foreground labels of a dataset by role. A label whose name contains "lung"
    (``lung``, ``left lung``, ``right_lung``) is lung; ``ignore`` is nnU-Net's ignore label;
    every other foreground label is a lesion type (``infection``, ``GGO``, ...).

    A region-based dataset (nnU-Net's labels whose values are lists, with
    ``regions_class_order``) sorts its regions the same way: ``regions`` maps each region's
    name to the label values it holds, and ``names`` names the value each region is
    painted with in a predicted label map (its ``regions_class_order`` entry)."""

    names: dict[int, str]
    lung_labels: tuple[int, ...]
    lesion_labels: tuple[int, ...]
    ignore_label: int | None
    regions: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def lung_region(self) -> tuple[int, ...]:
        """Label values that are lung: for regions the union of the lung regions, else
        the lung labels and the lesion labels (lesions lie in the lung and are written
        over it)."""
        if self.regions:
            return tuple(sorted({value for name, values in self.regions.items() if _is_lung(name)
                                 for value in values}))
        return tuple(sorted(self.lung_labels + self.lesion_labels)) if self.lung_labels else ()

    def lesion_values(self, label: int) -> tuple[int, ...]:
        """Label values of the lesion type painted as ``label``: its region, or the label."""
        return self.regions[self.names[label]] if self.regions else (label,)

    @property
    def foreground_labels(self) -> tuple[int, ...]:
        return tuple(sorted(self.names))

    def refuse_unnamed_values(self, values: Iterable[int], path: Path, fix: str) -> None:
        """Refuse a label map holding a value dataset.json does not name: scoring or
        measuring it would quietly leave those voxels out."""
        known = set(self.names).union(*self.regions.values())
        unknown = sorted(set(int(value) for value in values) - {0, self.ignore_label} - known)
        if unknown:
            raise CovplanError(f"{path}: label value(s) {unknown} are not in the dataset.json labels; {fix}")


def load_dataset_json(path: Path) -> dict[str, Any]:
    """Read a dataset.json, with a one-line error when it is missing or not JSON."""
    return read_json(path, "give nnU-Net's dataset.json of these labels")


def find_dataset_json(*folders: Path) -> Path | None:
    """The first ``dataset.json`` in ``folders`` or beside them (nnU-Net's raw layout keeps it
    one level above ``labelsTr``; its predictions folders carry a copy)."""
    for folder in folders:
        for candidate in (folder / DATASET_JSON, folder.parent / DATASET_JSON):
            if candidate.is_file():
                return candidate
    return None


def dataset_label_manager(dataset_json: Mapping[str, Any], source: Path | str):
    """nnunetv2's ``LabelManager`` of a dataset.json (labels, regions, ignore label); its
    checks (background 0, the ignore label the highest value, ``regions_class_order`` with
    regions) become one line naming ``source``."""
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    try:
        return LabelManager(dict(dataset_json["labels"]), dataset_json.get("regions_class_order"))
    except (AssertionError, RuntimeError, KeyError, TypeError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CovplanError(f"{source}: its labels do not follow nnU-Net's rules ({reason}); see docs/formats.md "
                           f"for the ignore label and regions") from error


def label_roles(dataset_json: Mapping[str, Any]) -> LabelRoles:
    """Sort the labels of a dataset.json (v2 ``{"name": value}`` or v1 ``{"value": "name"}``)
    into lung, lesion and ignore labels; background (value 0) is left out."""
    labels = dataset_json.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        raise CovplanError("dataset.json has no 'labels' mapping; give the label values explicitly")
    if all(str(key).isdigit() for key in labels):
        labels = {name: int(value) for value, name in labels.items()}
    ignore_label = labels.get("ignore")
    regions = {}
    # As nnU-Net's LabelManager: only a list of several values makes a dataset region-based.
    if any(isinstance(value, (list, tuple)) and len(value) > 1 for value in labels.values()):
        order = dataset_json.get("regions_class_order")
        regions = {name: tuple(sorted(value)) if isinstance(value, (list, tuple)) else (int(value),)
                   for name, value in labels.items() if name not in ("background", "ignore")}
        if not isinstance(order, list) or len(order) != len(regions):
            raise CovplanError(f"dataset.json: {len(regions)} regions need a 'regions_class_order' list of "
                               f"{len(regions)} label values (nnU-Net's region-based format, see docs/formats.md)")
        names = dict(zip((int(value) for value in order), regions))
    else:
        labels = {name: value[0] if isinstance(value, (list, tuple)) else value for name, value in labels.items()}
        names = {value: name for name, value in labels.items() if value != 0 and name != "ignore"}
    lung_labels = tuple(sorted(value for value, name in names.items() if _is_lung(name)))
    lesion_labels = tuple(sorted(value for value in names if value not in lung_labels))
    return LabelRoles(names=names, lung_labels=lung_labels, lesion_labels=lesion_labels, ignore_label=ignore_label,
                      regions=regions)


def _is_lung(name: str) -> bool:
    return "lung" in name.lower()


def automatic_regions(roles: LabelRoles) -> dict[str, tuple[int, ...]]:
    """A region-based dataset's own regions; otherwise ``lungs`` = all lung labels and
    ``infection`` = all lesion types, each only where it merges more than one label (a
    single label is already evaluated on its own)."""
    if roles.regions:
        return dict(roles.regions)
    regions = {}
    if len(roles.lung_labels) > 1:
        regions[LUNGS_REGION] = roles.lung_labels
    if len(roles.lesion_labels) > 1:
        regions[INFECTION_REGION] = roles.lesion_labels
    return regions


def parse_region(text: str) -> tuple[str, tuple[int, ...]]:
    """``"lungs=1,2"`` -> ``("lungs", (1, 2))``."""
    match = re.fullmatch(r"\s*([^=]+?)\s*=\s*(\d+(?:\s*,\s*\d+)*)\s*", text)
    if match is None:
        raise CovplanError(f"region {text!r} is not of the form NAME=LABEL,LABEL (e.g. lungs=1,2)")
    return match.group(1), tuple(sorted({int(value) for value in match.group(2).split(",")}))


def column_name(label_name: str) -> str:
    """A label name as a CSV column stem: ``"Ground glass"`` -> ``"ground_glass"``."""
    return re.sub(r"[^0-9a-z]+", "_", label_name.lower()).strip("_") or "label"
