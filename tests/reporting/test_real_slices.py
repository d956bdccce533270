"""The report and the evaluation on real COVID-19 slices (MedSeg, via Inf-Net): the doctors'
masks stand in for predictions."""

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.evaluation import evaluate_folder
from covplan.reporting.report import build_report
from tests.conftest import SHARED_DATA
from tests.label_maps import LESION_TYPE_LABELS, write_png

SEMISEG = SHARED_DATA / "covid_semiseg_train"
SLICES = ("1", "2", "3")
# The VOC palette of the source masks: (128, 0, 0) GGO, (0, 128, 0) consolidation.
PALETTE = {(128, 0, 0): 1, (0, 128, 0): 2}

pytestmark = pytest.mark.skipif(not SEMISEG.is_dir(), reason=f"real slice data not found at {SEMISEG}")


def _label_map(mask_png) -> np.ndarray:
    rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_png)))[..., :3]
    label_map = np.zeros(rgb.shape[:2], np.uint8)
    for colour, label in PALETTE.items():
        label_map[np.all(rgb == colour, axis=-1)] = label
    return label_map


def test_real_masks_score_perfectly_and_report_their_pixel_areas(tmp_path):
    expected_ggo = {}
    for name in SLICES:
        label_map = _label_map(SEMISEG / "GT" / f"{name}.png")
        write_png(tmp_path / "masks" / f"{name}.png", label_map)
        expected_ggo[name] = int(np.count_nonzero(label_map == 1))
    summary = evaluate_folder(tmp_path / "masks", tmp_path / "masks", labels=[1, 2],
                              regions={"infection": [1, 2]}, num_processes=1)
    assert summary["mean"][(1, 2)]["Dice"] == 1.0
    build_report(tmp_path / "masks", tmp_path / "report", {"labels": LESION_TYPE_LABELS, "file_ending": ".png"},
                 images=SEMISEG / "Imgs")
    with (tmp_path / "report" / "report.csv").open() as stream:
        rows = {row["patient_id"]: row for row in csv.DictReader(stream)}
    assert {name: float(rows[name]["ggo_mm2"]) for name in SLICES} == expected_ggo
    assert all(rows[name]["result"] == "positive" for name in SLICES if expected_ggo[name])
