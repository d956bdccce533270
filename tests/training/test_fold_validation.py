"""The cross-validation summary over folds."""

from __future__ import annotations

import json

import pytest

from covplan.training.fold_validation import cross_validation_summary, format_cross_validation_table


def write_fold_summary(model_folder, fold, lung, lesion):
    """A fold's validation/summary.json as covplan.evaluation writes it (sorted keys)."""
    validation = model_folder / f"fold_{fold}" / "validation"
    validation.mkdir(parents=True)
    validation.joinpath("summary.json").write_text(json.dumps({
        "names": {"(2, 3)": "infection", "1": "lung", "2": "ggo", "3": "consolidation"},
        "mean": {"(2, 3)": {"Dice": lesion}, "1": {"Dice": lung}, "2": {"Dice": lesion}, "3": {"Dice": None}},
        "foreground_mean": {"Dice": lung}, "metric_per_case": []}))


def test_cross_validation_summary_means_folds(tmp_path):
    write_fold_summary(tmp_path, 0, 0.9, 0.5)
    write_fold_summary(tmp_path, 1, 0.8, 0.7)
    write_fold_summary(tmp_path, "all", 1.0, 1.0)  # trained on every case: not a fold of the mean
    summary = cross_validation_summary(tmp_path)
    assert summary["classes"] == ["lung", "ggo", "consolidation", "infection"]
    assert summary["folds"]["1"] == {"lung": 0.8, "ggo": 0.7, "consolidation": None, "infection": 0.7}
    assert summary["mean"] == {"lung": pytest.approx(0.85), "ggo": pytest.approx(0.6), "consolidation": None,
                               "infection": pytest.approx(0.6)}
    assert json.loads((tmp_path / "cv_summary.json").read_text())["folds"] == summary["folds"]
    table = format_cross_validation_table(summary, "plain_unet__3d_fullres:").splitlines()
    assert table[0] == "plain_unet__3d_fullres:"
    assert table[1].split() == ["fold", "Dice", "lung", "Dice", "ggo", "Dice", "consolidation", "Dice", "infection"]
    assert table[2].split() == ["0", "0.9000", "0.5000", "-", "0.5000"]
    assert table[-1].split() == ["mean", "0.8500", "0.6000", "-", "0.6000"]
