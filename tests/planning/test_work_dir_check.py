"""``check_work_dir``: what a WORK folder may hold before planning."""

from __future__ import annotations

import pytest

from covplan.errors import CovplanError
from covplan.planning.plan import check_work_dir


def test_the_folders_trackers_keep_in_work_are_covplans_own(tmp_path):
    work = tmp_path / "work"
    (work / "tensorboard").mkdir(parents=True)
    (work / "mlflow.db").write_bytes(b"")
    (work / "mlartifacts").mkdir()
    assert check_work_dir(work, tmp_path / "raw", "digest") is False


def test_a_file_of_the_users_is_still_refused(tmp_path):
    work = tmp_path / "work"
    (work / "tensorboard").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    with pytest.raises(CovplanError, match="is not empty and was not written by `covplan plan`"):
        check_work_dir(work, tmp_path / "raw", "digest")
