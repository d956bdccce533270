"""``--init-from ARCHIVE``: an archive of one model is unpacked once into WORK/init_from/ and
verified; an archive of several is refused; `plan --explain` says where the plans came from;
`plan-and-train --init-from` trains a fold from it (two steps of the tiny patch: the end to
end path the user runs) and, with --time-budget, fits each fold's schedule, not the plans."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.export.archive import export_archive
from covplan.file_hashes import file_sha256
from covplan.training import TrainingSettings
from covplan.workflows import plan_and_train as plan_and_train_module
from covplan.workflows.init_from import open_source_model
from tests.raw_datasets import BALL, write_raw_dataset

TINY = ["--epochs", "1", "--iters-per-epoch", "2", "--val-iters", "1", "--num-workers", "0", "--no-evaluate",
        "--no-tta", "-j", "1", "--num-folds", "2"]


@pytest.fixture(scope="module")
def disc_archive(trained_models, tmp_path_factory) -> Path:
    """The 2D disc model exported as an archive. Read it, never write."""
    target = tmp_path_factory.mktemp("init_archive") / "discs.zip"
    export_archive([trained_models["2d"]], target)
    return target


@pytest.fixture(scope="module")
def lesion_raw(tmp_path_factory) -> Path:
    """Four discs whose label is called a lesion (MRI-like intensities, as the source's)."""
    root = tmp_path_factory.mktemp("lesion_raw")
    return write_raw_dataset(root / "Dataset604_Lesions", num_cases=4, shape_zyx=(40, 40), spacing_xyz=(1.0, 1.0),
                             seed=4, phantom=dataclasses.replace(BALL, labels={"background": 0, "lesion": 1}))


def test_an_archive_is_unpacked_once_into_work_and_named_by_its_checksum(disc_archive, tmp_path):
    source = open_source_model(disc_archive, tmp_path / "work")
    assert source.folder == tmp_path / "work" / "init_from" / "discs" / "plain_unet__2d"
    assert (source.origin, source.origin_sha256) == (disc_archive, file_sha256(disc_archive))
    assert (source.architecture, source.configuration, source.fold) == ("plain_unet", "2d", 0)
    unpacked = source.checkpoint.stat().st_mtime_ns
    assert open_source_model(disc_archive, tmp_path / "work").checkpoint.stat().st_mtime_ns == unpacked


def test_an_archive_of_several_models_is_refused(trained_models, tmp_path):
    archive = tmp_path / "ensemble.zip"
    export_archive([trained_models["3d"], trained_models["3d_other"]], archive)
    with pytest.raises(CovplanError, match="the archive holds 2 models .* `covplan import .* -o DIR` and give "
                                           "--init-from DIR/<model folder>"):
        open_source_model(archive, tmp_path / "work")


def test_plan_explains_the_moved_plans_and_refuses_another_intensity_domain(disc_archive, lesion_raw, raw_2d,
                                                                            tmp_path):
    result = CliRunner().invoke(cli, ["plan", str(lesion_raw), "-o", str(tmp_path / "work"), "--init-from",
                                      str(disc_archive), "--explain", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert f"    - plans moved from {disc_archive} (plain_unet 2d, trained on Dataset002_Disc" in result.output
    assert "patch 32 x 32, batch 2" in result.output  # the source's shrunk plan, not a new one
    refused = CliRunner().invoke(cli, ["plan", str(raw_2d), "-o", str(tmp_path / "ct"), "--init-from",
                                       str(disc_archive), "-j", "1"])
    assert refused.exit_code == 1
    assert "intensity domain differs: the source normalised channel 0 ('MRI') with ZScoreNormalization" in \
        refused.output


def test_plan_and_train_starts_every_fold_from_the_archive(disc_archive, lesion_raw, tmp_path):
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, ["plan-and-train", str(lesion_raw), "-o", str(work), "--init-from",
                                      str(disc_archive), "-f", "0", *TINY])
    assert result.exit_code == 0, result.output
    record = json.loads((work / "plain_unet__2d" / "fold_0" / "init_from.json").read_text())
    assert record["source"]["origin"] == str(disc_archive)
    assert record["source"]["origin_sha256"] == file_sha256(disc_archive)
    assert record["heads"] == "re-initialised: the labels differ"
    again = CliRunner().invoke(cli, ["train", str(work), "-a", "plain_unet", "-f", "0", "--init-from",
                                       str(work / "plain_unet__2d"), *TINY[:-4]])
    # The new model's plans are the archive's: starting again from it applies.
    assert again.exit_code == 0, again.output


def test_with_a_time_budget_the_plans_stay_the_sources_and_each_fold_fits_its_schedule(disc_archive, lesion_raw,
                                                                                       tmp_path, monkeypatch):
    def fitted_plans(*args, **kwargs):
        raise AssertionError("the plans must stay the source's")

    planned, trained = [], []
    monkeypatch.setattr(plan_and_train_module, "plan_for_budget", fitted_plans)
    monkeypatch.setattr(plan_and_train_module, "plan_dataset",
                        lambda dataset, work, architectures, **kwargs: planned.append((architectures, kwargs)))
    monkeypatch.setattr(plan_and_train_module, "preprocess", lambda *args: None)
    monkeypatch.setattr(plan_and_train_module, "training_stages", lambda work, architecture, configuration, folds,
                        split_size: [("2d", folds)])
    monkeypatch.setattr(plan_and_train_module, "load_training_inputs", lambda work, architecture, configuration:
                        SimpleNamespace(model_folder=Path(work) / f"{architecture}__{configuration}"))
    monkeypatch.setattr(plan_and_train_module, "train_fold",
                        lambda work, architecture, fold, configuration, settings, **kwargs: trained.append(
                            (architecture, fold, configuration, settings.time_budget_s, kwargs["init_from"])))
    plan_and_train_module.plan_and_train(lesion_raw, tmp_path / "work", [], folds=[0], num_processes=1, num_folds=2,
                                         settings=TrainingSettings(time_budget_s=120, evaluate=False),
                                         init_from=disc_archive)
    [(architectures, planning)] = planned
    assert architectures == ["plain_unet"] and planning["init_from"].origin == disc_archive
    [(architecture, fold, configuration, budget_s, source)] = trained
    assert (architecture, fold, configuration, budget_s, source.origin) == ("plain_unet", 0, "2d", 120, disc_archive)
