from __future__ import annotations

import os
from pathlib import Path

from nnunetv2.experiment_planning.experiment_planners import default_experiment_planner

from covplan.nnunet_paths import nnunet_dataset_view


def test_view_points_nnunet_at_the_folder_and_restores_everything(tmp_path: Path):
    dataset_dir = tmp_path / "any_name"
    dataset_dir.mkdir()
    (dataset_dir / "dataset.json").write_text("{}")
    before = (default_experiment_planner.nnUNet_raw, default_experiment_planner.nnUNet_preprocessed,
              os.environ.get("nnUNet_raw"))

    with nnunet_dataset_view(dataset_dir, tmp_path / "work") as view:
        raw = Path(default_experiment_planner.nnUNet_raw)
        assert (raw / view.dataset_name / "dataset.json").read_text() == "{}"
        assert Path(default_experiment_planner.nnUNet_preprocessed) / view.dataset_name == view.preprocessed_folder
        assert view.preprocessed_folder.is_relative_to(tmp_path / "work")
        assert os.environ["nnUNet_raw"] == str(raw)

    assert (default_experiment_planner.nnUNet_raw, default_experiment_planner.nnUNet_preprocessed,
            os.environ.get("nnUNet_raw")) == before
    assert list((tmp_path / "work").iterdir()) == []
    assert (dataset_dir / "dataset.json").is_file()  # the dataset itself is untouched
