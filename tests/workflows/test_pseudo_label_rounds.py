"""``plan-and-train --unlabelled``'s rounds, chained on the trained spheres: training is
stood in for by copying the trained WORK folder (no network is trained here), so that the
chain itself is what is tested: round 1 pseudo-labels with round 0's models, trains on a
dataset holding the pseudo-labelled case, and each training gets its share of the budget."""

from __future__ import annotations

import shutil
from pathlib import Path

from covplan.conversion.raw_dataset import read_raw_dataset
from covplan.pseudo_labelling import PseudoLabelSettings
from covplan.training import TrainingSettings
from covplan.workflows.pseudo_label_rounds import train_with_pseudo_labels


def test_each_round_pseudo_labels_with_the_last_models_and_trains_on_a_share_of_the_budget(
        trained_models, nnunet_work_root, sphere_input, tmp_path):
    trained_work = trained_models["3d"].parent
    labelled = nnunet_work_root / "raw" / "Dataset001_Sphere"
    calls = []

    def train_round(dataset: Path, work: Path, settings: TrainingSettings) -> dict:
        calls.append((dataset, work, settings.time_budget_s, read_raw_dataset(dataset).pseudo_labelled_cases))
        shutil.copytree(trained_work, work, symlinks=True)
        return {"plain_unet__3d_fullres": {"round": len(calls) - 1}}

    summaries = train_with_pseudo_labels(
        labelled, tmp_path / "work", sphere_input[0], 2, ["plain_unet"], "3d_fullres",
        TrainingSettings(time_budget_s=90.0), train_round,
        pseudo_settings=PseudoLabelSettings(target_precision=0.95, fast=True, device="cpu", threads=1))

    rounds = tmp_path / "work" / "pseudo_label_rounds"
    assert calls == [(labelled, tmp_path / "work", 30.0, []),
                     (rounds / "round_1" / "dataset", rounds / "round_1" / "work", 30.0, ["pseudo_ball"]),
                     (rounds / "round_2" / "dataset", rounds / "round_2" / "work", 30.0, ["pseudo_ball"])]
    record = read_raw_dataset(rounds / "round_2" / "dataset").covplan_dataset["pseudo_labels"]
    assert record["models"] == [str((rounds / "round_1" / "work" / "plain_unet__3d_fullres").absolute())]
    assert record["labelled_dataset"] == str(labelled.absolute())
    assert summaries == {"plain_unet__3d_fullres": {"round": 0},
                         "pseudo_label_rounds/round_1/work/plain_unet__3d_fullres": {"round": 1},
                         "pseudo_label_rounds/round_2/work/plain_unet__3d_fullres": {"round": 2}}
