"""Rates added to nnU-Net's summary, and the cross-validation summary over folds."""

from __future__ import annotations

import json
import math

import pytest

from covplan.training.evaluation import add_rates, cross_validation_summary, format_cross_validation_table


def nnunet_summary(counts_per_case: list[dict[int, tuple[int, int, int, int]]]) -> dict:
    """A summary as nnU-Net's compute_metrics_on_folder returns it, from (TP, FP, FN, TN)."""
    cases = [{"metrics": {label: {"TP": tp, "FP": fp, "FN": fn, "TN": tn} for label, (tp, fp, fn, tn) in counts.items()}}
             for counts in counts_per_case]
    return {"metric_per_case": cases, "mean": {label: {} for label in counts_per_case[0]}, "foreground_mean": {}}


def test_rates_per_case_per_class_and_foreground_mean():
    summary = add_rates(nnunet_summary([{1: (8, 2, 2, 88), 2: (0, 0, 0, 100)},
                                        {1: (3, 1, 0, 96), 2: (5, 5, 0, 90)}]))
    first = summary["metric_per_case"][0]["metrics"]
    assert first[1]["Sensitivity"] == 0.8 and first[1]["Precision"] == 0.8
    assert first[1]["Specificity"] == pytest.approx(88 / 90)
    assert math.isnan(first[2]["Sensitivity"]) and math.isnan(first[2]["Precision"])  # class absent
    assert summary["mean"][1]["Sensitivity"] == pytest.approx((0.8 + 1.0) / 2)
    assert summary["mean"][2]["Sensitivity"] == 1.0  # the undefined case does not count
    assert summary["mean"][2]["Precision"] == 0.5
    assert summary["foreground_mean"]["Precision"] == pytest.approx(((0.8 + 0.75) / 2 + 0.5) / 2)


def test_cross_validation_summary_means_folds(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "lung": 1, "infection": 2}}))
    for fold, (lung, infection) in {0: (0.9, 0.5), 1: (0.8, 0.7)}.items():
        validation = tmp_path / f"fold_{fold}" / "validation"
        validation.mkdir(parents=True)
        validation.joinpath("summary.json").write_text(json.dumps(
            {"mean": {"1": {"Dice": lung}, "2": {"Dice": infection}}, "metric_per_case": []}))
    (tmp_path / "fold_2").mkdir()  # not evaluated yet: left out
    summary = cross_validation_summary(tmp_path)
    assert summary["folds"] == {"0": {"lung": 0.9, "infection": 0.5}, "1": {"lung": 0.8, "infection": 0.7}}
    assert summary["mean"] == {"lung": pytest.approx(0.85), "infection": pytest.approx(0.6)}
    assert json.loads((tmp_path / "cv_summary.json").read_text())["folds"] == summary["folds"]
    table = format_cross_validation_table(summary, "plain_unet__3d_fullres:").splitlines()
    assert table[0] == "plain_unet__3d_fullres:"
    assert table[1].split() == ["fold", "Dice", "lung", "Dice", "infection"]
    assert table[2].split() == ["0", "0.9000", "0.5000"]
    assert table[-1].split() == ["mean", "0.8500", "0.6000"]
