import csv
import json
import re

import numpy as np
import pytest

from covplan.errors import CovplanError
from covplan.reporting.report import build_report
from covplan.reporting.source_images import image_files
from tests.image_files import LESION_TYPE_LABELS, write_nifti, write_png

LUNG_INFECTION_JSON = {"labels": {"background": 0, "lung": 1, "infection": 2}, "file_ending": ".nii.gz"}
LESION_ONLY_JSON = {"labels": {"background": 0, "infection": 1}, "file_ending": ".nii.gz"}
SLICE_JSON = {"labels": LESION_TYPE_LABELS, "file_ending": ".png"}


def _volume(tmp_path, name="vol_001", lesion=True):
    label_map = np.zeros((12, 12, 12), np.uint8)
    label_map[1:11, 1:11, 1:11] = 1  # 1000 voxels of 2 mm^3: 2 ml of lung
    if lesion:
        label_map[3:8, 2:6, 2:6] = 2  # 80 voxels: 0.16 ml of infection = 8 % of the lung
    write_nifti(tmp_path / "pred" / f"{name}.nii.gz", label_map, (1, 1, 2))
    image = np.where(label_map > 0, -850, 30).astype(np.int16)
    write_nifti(tmp_path / "images" / f"{name}_0000.nii.gz", image, (1, 1, 2))


def _read_csv(path):
    with path.open() as stream:
        return list(csv.DictReader(stream))


def test_volume_report_has_known_volumes_grade_and_embedded_overlays(tmp_path):
    _volume(tmp_path)
    _volume(tmp_path, "vol_002", lesion=False)
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, images=tmp_path / "images")
    rows = _read_csv(tmp_path / "report" / "report.csv")
    assert [row["patient_id"] for row in rows] == ["vol_001", "vol_002"]
    first, second = rows
    assert float(first["lung_ml"]) == pytest.approx(2.0)
    assert first["infection_ml"] == "0.2"  # 0.16 ml, rounded for a reader
    assert float(first["infection_percent_of_lung"]) == pytest.approx(8.0)
    assert (first["severity_grade"], first["severity"], first["result"]) == ("2", "mild", "positive")
    assert (second["severity"], second["result"], second["infection_ml"]) == ("none", "negative", "0.0")
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["patients"][0]["infection_ml"] == pytest.approx(0.16)  # report.json keeps full precision
    assert report["cases"][0]["infection"] == pytest.approx(0.16)
    assert report["cases"][0]["overlay_slice"] == 3
    assert report["skipped_slices"] is None and report["uncertainty"] is None
    assert sorted(p.name for p in (tmp_path / "report" / "overlays").iterdir()) == ["vol_001.png", "vol_002.png"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) == 2
    assert "src=\"overlays/" not in page and "severity_by_grade" not in page


def test_slice_report_groups_patients_and_plots_lesions_by_source_grade(tmp_path):
    for index, (patient, ggo_rows) in enumerate([("p1", 0), ("p1", 2), ("p2", 5)]):
        label_map = np.zeros((10, 10), np.uint8)
        label_map[:ggo_rows, :] = 1
        label_map[9, :3] = 2
        write_png(tmp_path / "pred" / f"{patient}_s{index}.png", label_map)
    covplan_dataset = {"cases": {"p1_s0": {"patient_id": "p1"}, "p1_s1": {"patient_id": "p1"},
                                 "p2_s2": {"patient_id": "p2"}},
                       "patients": {"p1": {"diagnosis": "covid", "severity": "mild"},
                                    "p2": {"diagnosis": "covid", "severity": "severe"}}}
    build_report(tmp_path / "pred", tmp_path / "report", SLICE_JSON, covplan_dataset=covplan_dataset)
    p1, p2 = _read_csv(tmp_path / "report" / "report.csv")
    assert (p1["cases"], p1["positive_cases"], p1["ggo_mm2"], p1["consolidation_mm2"]) == ("2", "2", "20.0", "6.0")
    assert p1["lung_mm2"] == "" and p1["infection_percent_of_lung"] == "" and p1["severity"] == ""
    assert (p2["source_severity"], p2["infection_mm2"]) == ("severe", "53.0")
    assert (tmp_path / "report" / "severity_by_grade.png").stat().st_size > 1000
    page = (tmp_path / "report" / "report.html").read_text()
    assert "The model has no lung label" in page
    assert page.count("data:image/png;base64,") == 4  # three overlays and the grade plot


def test_lung_masks_give_a_slice_model_its_shares(tmp_path):
    label_map = np.zeros((10, 10), np.uint8)
    label_map[:1, :] = 1
    write_png(tmp_path / "pred" / "s.png", label_map)
    write_png(tmp_path / "lungs" / "s.png", np.full((10, 10), 255, np.uint8))
    report = build_report(tmp_path / "pred", tmp_path / "report", SLICE_JSON, lung_mask_dir=tmp_path / "lungs")
    row = report["patients"][0]
    assert (row["lung_mm2"], row["infection_percent_of_lung"], row["severity"]) == (100.0, 10.0, "mild")


def test_an_existing_report_is_kept_unless_overwritten(tmp_path):
    _volume(tmp_path)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "old.txt").write_text("keep")
    with pytest.raises(CovplanError, match="already exists"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)
    # --overwrite replaces only a folder report wrote, never other data (issue 29, item 5).
    with pytest.raises(CovplanError, match=r"holds files `covplan report` did not write \(old.txt\)"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, overwrite=True)
    assert (tmp_path / "report" / "old.txt").read_text() == "keep"
    (tmp_path / "report" / "old.txt").unlink()
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        ".covplan_output.json", "overlays", "report.csv", "report.html", "report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "pred", "report"]


def test_a_failing_case_leaves_no_report_behind(tmp_path):
    _volume(tmp_path)
    write_nifti(tmp_path / "images" / "vol_001_0000.nii.gz", np.zeros((12, 12, 11), np.int16))
    with pytest.raises(CovplanError, match=r"vol_001_0000\.nii\.gz: image shape \(12, 12, 11\) differs"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, images=tmp_path / "images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "pred"]


def test_label_values_unknown_to_dataset_json_are_refused(tmp_path):
    write_nifti(tmp_path / "pred" / "c.nii.gz", np.full((2, 3, 3), 5, np.uint8))
    with pytest.raises(CovplanError, match=r"c\.nii\.gz: label value\(s\) \[5\] are not in the dataset.json"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)


def test_images_are_matched_with_or_without_the_channel_suffix(tmp_path):
    write_png(tmp_path / "a_0000.png", np.zeros((2, 2)))
    write_png(tmp_path / "b.png", np.zeros((2, 2)))
    (tmp_path / "notes.txt").write_text("not an image")
    assert sorted(image_files(tmp_path)) == ["a", "b"]


def test_patients_with_the_most_uncertain_lesions_come_first(tmp_path):
    for name in ("vol_001", "vol_002", "vol_003"):
        _volume(tmp_path, name, lesion=name != "vol_003")
    summary = {"cases": {"vol_001": {"mean_entropy_in_lesions": 0.1}, "vol_002": {"mean_entropy_in_lesions": 0.6},
                         "vol_003": {"mean_entropy_in_lesions": None}}}
    (tmp_path / "pred" / "uncertainty_summary.json").write_text(json.dumps(summary))
    report = build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)
    rows = _read_csv(tmp_path / "report" / "report.csv")
    assert [(row["patient_id"], row["lesion_uncertainty"]) for row in rows] == [
        ("vol_002", "0.6"), ("vol_001", "0.1"), ("vol_003", "")]
    assert [case["lesion_uncertainty"] for case in report["cases"]] == [0.1, 0.6, None]


def test_a_damaged_uncertainty_summary_is_named(tmp_path):
    _volume(tmp_path)
    (tmp_path / "pred" / "uncertainty_summary.json").write_text("{}")
    with pytest.raises(CovplanError, match="uncertainty_summary.json: not an uncertainty summary"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)


def test_the_report_says_how_many_slices_the_classifier_skipped(tmp_path):
    for name in ("vol_001", "vol_002"):
        _volume(tmp_path, name, lesion=name == "vol_001")
    decisions = {"vol_001": {"lesion_probability": 0.9, "skipped": False},
                 "vol_002": {"lesion_probability": 0.1, "skipped": True}}
    (tmp_path / "pred" / "slice_classification.json").write_text(json.dumps({"cases": decisions}))
    report = build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)
    assert report["skipped_slices"] == {"classified": 2, "skipped": 1, "skipped_cases": ["vol_002"]}
    assert "called 1 of 2 slices lesion-free" in (tmp_path / "report" / "report.html").read_text()


def test_a_prediction_without_its_image_is_named_in_a_warning(tmp_path, caplog):
    _volume(tmp_path)
    _volume(tmp_path, "vol_002")
    (tmp_path / "images" / "vol_002_0000.nii.gz").unlink()
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, images=tmp_path / "images")
    assert (f"1 prediction(s) have no image in {tmp_path / 'images'} (CASE.ext or CASE_0000.ext), so their masks "
            f"are drawn over black: vol_002") in caplog.text
    assert (tmp_path / "report" / "overlays" / "vol_002.png").is_file()


def _lesion_only_volume(tmp_path, name="vol_001"):
    """:func:`_volume` as a model without a lung label predicts it."""
    _volume(tmp_path, name)
    label_map = np.zeros((12, 12, 12), np.uint8)
    label_map[3:8, 2:6, 2:6] = 1
    write_nifti(tmp_path / "pred" / f"{name}.nii.gz", label_map, (1, 1, 2))


def test_images_that_match_no_prediction_are_refused_naming_both(tmp_path):
    # The model has no lung label: without a matching image no lung, share or grade is known.
    _lesion_only_volume(tmp_path)
    (tmp_path / "images" / "vol_001_0000.nii.gz").rename(tmp_path / "images" / "scan_001.nii.gz")
    with pytest.raises(CovplanError) as raised:
        build_report(tmp_path / "pred", tmp_path / "report", LESION_ONLY_JSON, images=tmp_path / "images")
    assert str(raised.value) == (f"{tmp_path / 'images'}: no image matches a prediction (images are matched by name, "
                                 "CASE.ext or CASE_0000.ext); predictions: vol_001; images: scan_001; give the images "
                                 "the predictions were made from")
    assert not (tmp_path / "report").exists()


def test_a_prediction_without_its_image_warns_that_its_lung_stays_unknown(tmp_path, caplog):
    _lesion_only_volume(tmp_path)
    _lesion_only_volume(tmp_path, "vol_002")
    (tmp_path / "images" / "vol_002_0000.nii.gz").unlink()
    report = build_report(tmp_path / "pred", tmp_path / "report", LESION_ONLY_JSON, images=tmp_path / "images")
    assert ("so their masks are drawn over black and their lung, shares and grade stay unknown: vol_002"
            in caplog.text)
    assert [case["lung"] is None for case in report["cases"]] == [False, True]


def _viewer_data(page: str) -> list[dict]:
    return [json.loads(text) for text in re.findall(r'<script type="application/json" class="viewer-data">(.*?)</script>',
                                                     page)]


def test_each_case_gets_a_viewer_with_the_uncertainty_map_where_predict_saved_one(tmp_path):
    _volume(tmp_path)
    _volume(tmp_path, "vol_002")
    entropy = np.zeros((12, 12, 12), np.float32)
    entropy[3:8, 2:6, 2:6] = 0.6
    write_nifti(tmp_path / "pred" / "uncertainty" / "vol_001_entropy.nii.gz", entropy, (1, 1, 2))
    build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON, images=tmp_path / "images")
    page = (tmp_path / "report" / "report.html").read_text()
    first, second = _viewer_data(page)
    assert first["shape"] == [12, 12, 12] and first["start"][0] == 3  # opens at the overlay's slice
    assert first["uncertainty"]["max"] == pytest.approx(0.6) and second["uncertainty"] is None
    assert [window["name"] for window in first["image"]["windows"]] == ["lung", "mediastinal"]
    assert "new DecompressionStream(" in page and "src=\"http" not in page  # the script inline, nothing fetched
    assert page.index("Patients at a glance") < page.index("<table>")  # the overview first


def test_an_uncertainty_map_of_another_shape_is_named(tmp_path):
    _volume(tmp_path)
    write_nifti(tmp_path / "pred" / "uncertainty" / "vol_001_entropy.nii.gz", np.zeros((12, 12, 11), np.float32))
    with pytest.raises(CovplanError, match=r"vol_001_entropy\.nii\.gz: uncertainty map of shape \(12, 12, 11\) differs"):
        build_report(tmp_path / "pred", tmp_path / "report", LUNG_INFECTION_JSON)
