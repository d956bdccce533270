"""covplan/launch/jobs.py: folds and trials as submitit jobs, on this machine (submitit's
LocalExecutor stands in for SLURM) and as the sbatch script a dry run shows."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.launch.jobs import require_submitit

pytest.importorskip("submitit", reason="--launcher needs submitit (pip install 'covplan[slurm]')")

TINY_RUN = ["--epochs", "1", "--iters-per-epoch", "1", "--val-iters", "1", "--num-workers", "0", "--no-tta",
            "--device", "cpu"]


def _dice_rows(output: str) -> list[list[str]]:
    """The CV table's fold and Dice cells (the minutes column differs from run to run)."""
    lines = output.splitlines()
    start = lines.index("plain_unet__2d:")
    return [line.split()[:3] for line in lines[start + 2:start + 5]]


@pytest.mark.slow
def test_plan_and_train_trains_each_fold_as_a_local_job_and_prints_the_sequential_table(raw_2d, tmp_path):
    work = tmp_path / "work"
    arguments = [str(raw_2d), "-o", str(work), "-a", "plain_unet", "-f", "0", "1", "-j", "1", *TINY_RUN]
    result = CliRunner().invoke(cli, ["plan-and-train", *arguments, "--launcher", "local", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    logs = sorted((work / "jobs" / "plan-and-train").glob("*_0_log.out"))
    assert len(logs) == 2  # one job per fold, each with its own log
    with_jobs = json.loads((work / "plain_unet__2d" / "cv_summary.json").read_text())

    # The same folds one after the other, in this process: the same table.
    sequential = CliRunner().invoke(cli, ["train", str(work), "-a", "plain_unet", "-f", "0", "1", *TINY_RUN])
    assert sequential.exit_code == 0, sequential.output
    assert _dice_rows(result.stdout) == _dice_rows(sequential.stdout)
    assert [row[0] for row in _dice_rows(result.stdout)] == ["0", "1", "mean"]
    assert json.loads((work / "plain_unet__2d" / "cv_summary.json").read_text())["folds"] == with_jobs["folds"]


@pytest.mark.slow
def test_two_job_processes_work_on_one_sqlite_study_and_complete_distinct_trials(disc_work):
    pytest.importorskip("optuna")
    result = CliRunner().invoke(cli, ["tune", str(disc_work), "--trials", "2", "--loss", "dice_ce", "--augmentation",
                                      "nnunet", "--launcher", "local", "--jobs", "2", "--no-pruning", "--keep-models",
                                      "best", *TINY_RUN])
    assert result.exit_code == 0, result.output
    import optuna

    study = optuna.load_study(study_name="plain_unet",
                              storage=f"sqlite:///{disc_work / 'tune' / 'plain_unet' / 'study.db'}")
    trials = study.get_trials()
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    assert len({trial.user_attrs["folder"] for trial in trials}) == 2
    job_logs = list((disc_work / "tune" / "plain_unet" / "jobs").glob("*_0_log.out"))
    assert len(job_logs) == 2
    # The journeys' (launcher local, keep-models best) pair (tests/docs/test_journeys.py):
    # only the best trial's model is kept, the other's is deleted after the jobs end.
    assert len(list((disc_work / "tune" / "plain_unet").rglob("checkpoint_final.pth"))) == 1


def test_the_slurm_dry_run_shows_the_sbatch_script_and_submits_nothing(disc_work):
    pytest.importorskip("optuna")
    result = CliRunner().invoke(cli, ["tune", str(disc_work), "--trials", "3", "--launcher", "slurm", "--dry-run",
                                      "--jobs", "2", "--partition", "gpu", "--cpus-per-job", "4", "--job-minutes",
                                      "90"])
    assert result.exit_code == 0, result.output
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --time=90"):
        assert line in result.output
    assert "-m submitit.core._submit" in result.output
    import optuna

    study = optuna.load_study(study_name="plain_unet",
                              storage=f"sqlite:///{disc_work / 'tune' / 'plain_unet' / 'study.db'}")
    assert study.get_trials() == []
    refused = CliRunner().invoke(cli, ["tune", str(disc_work), "--dry-run"])
    assert refused.exit_code == 2 and "--dry-run shows the sbatch script of --launcher slurm" in refused.output


def test_without_submitit_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(CovplanError, match=r"^--launcher needs submitit, which is not installed; "
                                           r"pip install 'covplan\[slurm\]'$"):
        require_submitit()
