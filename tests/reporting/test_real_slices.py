"""The report and the evaluation on real COVID-19 slices (MedSeg, via Inf-Net): the doctors'
masks stand in for predictions."""

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from covplan.evaluation import evaluate_folder
from covplan.reporting.report import build_report
from tests.image_files import LESION_TYPE_LABELS, write_png
from tests.paths import SHARED_DATA

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


@pytest.mark.slow
def test_a_lesion_model_without_lung_gets_lung_share_and_grade_from_the_images(tmp_path):
    names = sorted(path.stem for path in (SEMISEG / "GT").glob("*.png"))
    for name in names:
        write_png(tmp_path / "masks" / f"{name}.png", _label_map(SEMISEG / "GT" / f"{name}.png"))
    report = build_report(tmp_path / "masks", tmp_path / "report", {"labels": LESION_TYPE_LABELS, "file_ending": ".png"},
                          images=SEMISEG / "Imgs")
    assert report["lung_source"] == "derived" and sorted(report["derived_lung_cases"]) == names
    rows = report["patients"]
    assert len(rows) == len(names) == 50
    shares = [row["infection_percent_of_lung"] for row in rows]
    assert all(share is not None and 0 <= share <= 100 for share in shares)
    assert all(row["severity_grade"] is not None for row in rows)
    # The lesions cover a clear minority of the lung on most slices (MedSeg's cases range
    # from minimal to severe): the median share is a plausible figure, not 0 or 100.
    assert 5 < float(np.median(shares)) < 60
    assert "were derived from the image" in (tmp_path / "report" / "report.html").read_text()
