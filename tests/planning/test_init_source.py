"""``covplan.planning.init_source``: a source model that cannot apply is refused in one line
naming the difference; moved plans are the source's but for what names the dataset; a WORK
folder planned otherwise is refused for ``train --init-from``. Sources are written by hand
here: no network is trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covplan.errors import CovplanError
from covplan.planning.init_source import (
    check_plans_from_source,
    check_source_applies,
    check_source_dims,
    moved_plans,
    read_source_model,
    source_fold,
)

INTENSITY = {"0": {"mean": 1.0, "std": 0.5, "percentile_00_5": -1.0, "percentile_99_5": 3.0}}


def write_source(root: Path, configuration: str = "2d", patch_size: tuple[int, ...] = (32, 32),
                 channel: str = "MRI", scheme: str = "ZScoreNormalization", domain: str | None = None,
                 folds: tuple[str, ...] = ("fold_1", "fold_0")) -> Path:
    """A model folder as training leaves it, with empty checkpoint files."""
    folder = root / f"plain_unet__{configuration}"
    plan = {"patch_size": list(patch_size), "spacing": [1.0] * len(patch_size), "batch_size": 2,
            "normalization_schemes": [scheme], "use_mask_for_norm": [False], "data_identifier": "source_data",
            "preprocessor_name": "DefaultPreprocessor", "resampling_fn_data": "r", "resampling_fn_data_kwargs": {},
            "resampling_fn_seg": "r", "resampling_fn_seg_kwargs": {}, "next_stage": "3d_cascade_fullres",
            "architecture": {"network_class_name": "PlainConvUNet", "arch_kwargs": {"n_stages": 3}}}
    plans = {"dataset_name": "Dataset001_Source", "plans_name": "plans_plain_unet", "transpose_forward": [0, 1, 2],
             "image_reader_writer": "SimpleITKIO", "original_median_spacing_after_transp": [2.0, 2.0, 2.0],
             "foreground_intensity_properties_per_channel": INTENSITY,
             "configurations": {configuration: plan, "3d_lowres": dict(plan)},
             "covplan": {"architecture": "plain_unet", "explanation": {configuration: ["patch size 32 x 32: why"]}}}
    folder.mkdir(parents=True)
    for fold in folds:
        (folder / fold).mkdir()
        (folder / fold / "checkpoint_final.pth").write_bytes(b"")
    (folder / "plans.json").write_text(json.dumps(plans))
    (folder / "dataset.json").write_text(json.dumps({"channel_names": {"0": channel},
                                                     "labels": {"background": 0, "ball": 1}}))
    if domain is not None:
        (folder / "covplan_dataset.json").write_text(json.dumps({"intensity_domain": domain}))
    return folder


def source_of(folder: Path):
    return read_source_model(folder, folder, "0" * 64)


def dataset_json(channel: str = "MRI") -> dict:
    return {"channel_names": {"0": channel}, "labels": {"background": 0, "lesion": 1}}


SLICES = {"shapes_after_crop": [[1, 48, 40], [1, 48, 40]]}
VOLUMES = {"shapes_after_crop": [[24, 48, 40]]}


def test_the_source_lends_its_first_numbered_folds_weights_or_fold_all(tmp_path):
    folder = write_source(tmp_path)
    source = source_of(folder)
    assert (source.architecture, source.configuration, source.fold) == ("plain_unet", "2d", 0)
    assert source.checkpoint == folder / "fold_0" / "checkpoint_final.pth"
    (folder / "fold_all").mkdir()
    (folder / "fold_all" / "checkpoint_final.pth").write_bytes(b"")
    assert source_fold(folder) == "all"


def test_a_folder_that_is_no_trained_model_is_refused(tmp_path):
    with pytest.raises(CovplanError, match="neither a model folder"):
        read_source_model(tmp_path, tmp_path, "0" * 64)
    folder = write_source(tmp_path, folds=())
    with pytest.raises(CovplanError, match="no fold_\\*/checkpoint_final.pth to start from"):
        source_of(folder)


def test_a_source_of_the_same_kind_applies_to_slices_and_volumes(tmp_path):
    source = source_of(write_source(tmp_path))
    check_source_applies(source, ["plain_unet"], dataset_json(), None, tmp_path)
    for fingerprint in (SLICES, VOLUMES):  # a 2D network trains on the slices of volumes too
        check_source_dims(source, fingerprint, tmp_path)


def test_another_architecture_is_refused_naming_both(tmp_path):
    source = source_of(write_source(tmp_path))
    with pytest.raises(CovplanError, match="architecture differs: the source is 'plain_unet', asked for qchc_unet; "
                                           "leave out -a/--arch or give -a plain_unet"):
        check_source_applies(source, ["qchc_unet"], dataset_json(), None, tmp_path)


def test_a_3d_source_is_refused_for_2d_slices(tmp_path):
    source = source_of(write_source(tmp_path, "3d_fullres", (16, 16, 16)))
    check_source_dims(source, VOLUMES, tmp_path)
    with pytest.raises(CovplanError, match=r"dimensionality differs: the source is 3D \(3d_fullres, patch 16x16x16\), "
                                           r".* holds 2D slices; start from a 2D model"):
        check_source_dims(source, SLICES, tmp_path)
    with pytest.raises(CovplanError, match="configuration differs: the source was trained as 3d_fullres"):
        check_source_applies(source, ["plain_unet"], dataset_json(), None, tmp_path, ["2d"])


def test_another_normalisation_or_intensity_domain_is_refused(tmp_path):
    source = source_of(write_source(tmp_path, domain="hu"))
    with pytest.raises(CovplanError, match="intensity domain differs: the source normalised channel 0 \\('MRI'\\) "
                                           "with ZScoreNormalization, .*'CT' is normalised with CTNormalization"):
        check_source_applies(source, ["plain_unet"], dataset_json("CT"), None, tmp_path)
    with pytest.raises(CovplanError, match="intensity domain differs: the source was trained on 'hu' images, .* holds "
                                           "'grey8' images"):
        check_source_applies(source, ["plain_unet"], dataset_json(), "grey8", tmp_path)
    two_channels = {**dataset_json(), "channel_names": {"0": "MRI", "1": "MRI"}}
    with pytest.raises(CovplanError, match="input channels differ: the source reads 1"):
        check_source_applies(source, ["plain_unet"], two_channels, None, tmp_path)


def test_a_cascades_second_stage_is_refused(tmp_path):
    with pytest.raises(CovplanError, match="a cascade's second stage .* start from a 3d_fullres, 3d_lowres or 2d"):
        source_of(write_source(tmp_path, "3d_cascade_fullres", (16, 16, 16)))


def test_moved_plans_are_the_sources_configuration_under_the_targets_names(tmp_path):
    source = source_of(write_source(tmp_path))
    target = {"dataset_name": "Dataset602_Target", "plans_name": "plans_plain_unet", "image_reader_writer": "NibabelIO",
              "original_median_spacing_after_transp": [0.7, 0.7, 1.0], "transpose_forward": [2, 1, 0],
              "foreground_intensity_properties_per_channel": {"0": {"mean": 99.0}}}
    plans = moved_plans(source, target)
    assert list(plans["configurations"]) == ["2d"]
    plan = plans["configurations"]["2d"]
    assert "next_stage" not in plan
    assert {key: plan[key] for key in ("patch_size", "spacing", "normalization_schemes", "architecture")} == \
        {key: source.plan[key] for key in ("patch_size", "spacing", "normalization_schemes", "architecture")}
    # nnU-Net moves the normalisation's statistics and the transpose with the plans.
    assert plans["foreground_intensity_properties_per_channel"] == INTENSITY
    assert plans["transpose_forward"] == [0, 1, 2]
    assert (plans["dataset_name"], plans["image_reader_writer"]) == ("Dataset602_Target", "NibabelIO")
    assert plans["original_median_spacing_after_transp"] == [0.7, 0.7, 1.0]
    assert plan["data_identifier"].startswith("covplan_2d_")
    check_plans_from_source(source, plans, "2d", tmp_path / "plans_plain_unet.json")


def test_a_work_folder_planned_otherwise_is_refused_for_init_from(tmp_path):
    source = source_of(write_source(tmp_path))
    plans = moved_plans(source, {})
    plans["configurations"]["2d"]["spacing"] = [0.5, 0.5]
    with pytest.raises(CovplanError, match="2d's spacing differs from the source model's .* `covplan plan DATASET -o "
                                           "WORK --init-from .* --preprocess`"):
        check_plans_from_source(source, plans, "2d", tmp_path / "plans_plain_unet.json")
    plans = moved_plans(source, {})
    plans["foreground_intensity_properties_per_channel"] = {"0": {"mean": 3.0}}
    with pytest.raises(CovplanError, match="the intensity normalisation differs"):
        check_plans_from_source(source, plans, "2d", tmp_path / "plans_plain_unet.json")
