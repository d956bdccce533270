"""A trained model to start from (``--init-from``): what it is, whether it can apply to a
dataset, and its plans moved to that dataset.

nnU-Net fine-tunes in three steps a user runs by hand: ``nnUNetv2_move_plans_between_datasets``
(the source's plans, with their spacing, patch, topology and normalisation, under the
target's name), preprocessing with them, and ``nnUNetv2_train ... -pretrained_weights``.
covplan does the first here (:func:`moved_plans`), refuses a source that cannot apply
before anything is planned (:func:`check_source_applies`), and leaves the weights to
:mod:`covplan.training.init_from`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.json_files import read_json, read_json_if_present
from covplan.planning.data_identifier import shared_data_identifier
from covplan.work_folder import (
    CASCADE,
    CHECKPOINT_FINAL,
    COVPLAN_DATASET_JSON,
    DATASET_JSON,
    MODEL_PLANS_JSON,
    Fold,
    fold_folder,
    numbered_fold_folders,
    split_model_folder_name,
)

INIT_FROM_FORMAT_VERSION = 1
# The values of a configuration that decide what the source's weights mean: a WORK folder
# planned otherwise would feed them other images (``covplan train --init-from`` checks them).
PLAN_KEYS_THAT_MATTER = ("spacing", "normalization_schemes", "use_mask_for_norm", "architecture")


@dataclass(frozen=True)
class SourceModel:
    """A trained model folder to start from, and where it came from."""

    folder: Path  # the model folder (an archive's, unpacked)
    origin: Path  # what the user gave: the model folder or the archive
    origin_sha256: str  # the archive's checksum, or the checkpoint's for a model folder
    architecture: str
    configuration: str
    plans: dict[str, Any]
    dataset_json: dict[str, Any]
    intensity_domain: str | None  # covplan_dataset.json's; None: plain nnU-Net data
    fold: Fold
    checkpoint: Path

    @property
    def plan(self) -> dict[str, Any]:
        return self.plans["configurations"][self.configuration]

    @property
    def dims(self) -> int:
        return len(self.plan["patch_size"])

    def record(self) -> dict[str, Any]:
        """What the plans and the fold record say of the source (plain JSON values)."""
        return {"format_version": INIT_FROM_FORMAT_VERSION, "origin": str(self.origin),
                "origin_sha256": self.origin_sha256, "model_folder": self.folder.name,
                "architecture": self.architecture, "configuration": self.configuration,
                "source_dataset": self.plans.get("dataset_name"), "fold": str(self.fold),
                "checkpoint": self.checkpoint.name, "labels": self.dataset_json["labels"]}


def source_fold(folder: Path, checkpoint_name: str = CHECKPOINT_FINAL) -> Fold:
    """The fold whose weights a model folder lends: ``all`` (trained on every case, as
    nnU-Net pretrains) when it has the checkpoint, else the first numbered fold that has it."""
    if (fold_folder(folder, "all") / checkpoint_name).is_file():
        return "all"
    numbered = [fold for fold, path in numbered_fold_folders(folder).items() if (path / checkpoint_name).is_file()]
    if not numbered:
        raise CovplanError(f"{folder}: no fold_*/{checkpoint_name} to start from; train the model to its end first, "
                           f"or give another model folder or archive to --init-from")
    return numbered[0]


def read_source_model(folder: Path, origin: Path, origin_sha256: str,
                      checkpoint_name: str = CHECKPOINT_FINAL) -> SourceModel:
    """The model folder ``folder`` (``WORK/<arch>__<configuration>``, or one unpacked from
    the archive ``origin``) as a source; a folder that is no trained model is refused."""
    folder = Path(folder)
    named = split_model_folder_name(folder.name) if folder.is_dir() else None
    plans_file = folder / MODEL_PLANS_JSON
    if named is None or not plans_file.is_file():
        raise CovplanError(f"{origin}: neither a model folder (WORK/<arch>__<configuration> with {MODEL_PLANS_JSON}) "
                           f"nor a model archive (.zip from `covplan export`); give one to --init-from")
    fix = "give a model folder `covplan train` wrote, or an archive `covplan export` wrote"
    plans = read_json(plans_file, fix)
    architecture = plans.get("covplan", {}).get("architecture") or named[0]
    configuration = named[1]
    if configuration not in plans.get("configurations", {}):
        raise CovplanError(f"{plans_file} has no configuration '{configuration}'; {fix}")
    if configuration == CASCADE:
        raise CovplanError(f"{origin}: a cascade's second stage takes its first stage's labels as extra input "
                           f"channels and cannot start another dataset's training; start from a 3d_fullres, "
                           f"3d_lowres or 2d model")
    covplan_dataset = read_json_if_present(folder / COVPLAN_DATASET_JSON, fix) or {}
    fold = source_fold(folder, checkpoint_name)
    return SourceModel(folder, Path(origin), origin_sha256, architecture, configuration, plans,
                       read_json(folder / DATASET_JSON, fix), covplan_dataset.get("intensity_domain"), fold,
                       fold_folder(folder, fold) / checkpoint_name)


def check_source_applies(source: SourceModel, architectures: list[str], dataset_json: dict[str, Any],
                         intensity_domain: str | None, target: Path, configurations: list[str] | None = None) -> None:
    """Refuse, in one line naming the difference, a source whose architecture,
    configuration or intensity domain cannot apply to the dataset at ``target`` (described
    by its ``dataset_json`` and ``intensity_domain``): all known before a fingerprint."""
    if architectures != [source.architecture]:
        raise CovplanError(f"--init-from {source.origin}: architecture differs: the source is "
                           f"'{source.architecture}', asked for {', '.join(architectures)}; leave out -a/--arch or "
                           f"give -a {source.architecture}")
    if configurations and source.configuration not in configurations:
        raise CovplanError(f"--init-from {source.origin}: configuration differs: the source was trained as "
                           f"{source.configuration} ({source.dims}D), asked for {', '.join(configurations)}; leave "
                           f"out -c or give -c {source.configuration}")
    _check_intensity_domain(source, dataset_json, intensity_domain, target)


def check_source_dims(source: SourceModel, fingerprint: dict[str, Any], target: Path) -> None:
    """Refuse a 3D source for a dataset of 2D slices (its fingerprint's shapes have one
    slice each); a 2D source trains on the slices of volumes as nnU-Net's 2d does."""
    shapes = fingerprint.get("shapes_after_crop") or []
    if source.dims == 3 and shapes and all(int(shape[0]) == 1 for shape in shapes):
        raise CovplanError(f"--init-from {source.origin}: dimensionality differs: the source is 3D "
                           f"({source.configuration}, patch {'x'.join(map(str, source.plan['patch_size']))}), "
                           f"{target} holds 2D slices; start from a 2D model")


def _check_intensity_domain(source: SourceModel, dataset_json: dict[str, Any], intensity_domain: str | None,
                            target: Path) -> None:
    from nnunetv2.preprocessing.normalization.map_channel_name_to_normalization import get_normalization_scheme

    channels = list(dataset_json["channel_names"].values())
    source_channels = list(source.dataset_json["channel_names"].values())
    if len(channels) != len(source_channels):
        raise CovplanError(f"--init-from {source.origin}: input channels differ: the source reads "
                           f"{len(source_channels)} ({', '.join(source_channels)}), {target} has {len(channels)} "
                           f"({', '.join(channels)}); start from a model of the same channels")
    # What nnU-Net's planner would choose for the target's channels, against what the
    # source's network was trained on (the moved plans normalise with the latter).
    for index, (name, scheme) in enumerate(zip(channels, source.plan["normalization_schemes"])):
        wanted = get_normalization_scheme(name).__name__
        if wanted != scheme:
            raise CovplanError(f"--init-from {source.origin}: intensity domain differs: the source normalised channel "
                               f"{index} ('{source_channels[index]}') with {scheme}, {target}'s channel '{name}' is "
                               f"normalised with {wanted}; start from a model trained on the same kind of images")
    if intensity_domain and source.intensity_domain and intensity_domain != source.intensity_domain:
        raise CovplanError(f"--init-from {source.origin}: intensity domain differs: the source was trained on "
                           f"'{source.intensity_domain}' images, {target} holds '{intensity_domain}' images; convert "
                           f"the dataset to '{source.intensity_domain}' or start from a model of its domain")


def check_plans_from_source(source: SourceModel, plans: dict[str, Any], configuration: str, plans_file: Path) -> None:
    """Refuse a WORK folder whose plans of ``configuration`` were not moved from ``source``:
    the weights would see other spacings, intensities or a network of another shape."""
    plan = plans["configurations"].get(configuration, {})
    for key in PLAN_KEYS_THAT_MATTER:
        if _comparable(plan.get(key)) != _comparable(source.plan.get(key)):
            raise CovplanError(f"{plans_file}: {configuration}'s {key} differs from the source model's "
                               f"({source.origin}); plan the dataset with the source's plans: `covplan plan DATASET "
                               f"-o WORK --init-from {source.origin} --preprocess` (or use `covplan plan-and-train "
                               f"--init-from`)")
    if plans.get("foreground_intensity_properties_per_channel") != \
            source.plans.get("foreground_intensity_properties_per_channel"):
        raise CovplanError(f"{plans_file}: the intensity normalisation differs from the source model's "
                           f"({source.origin}); plan the dataset with `covplan plan DATASET -o WORK --init-from "
                           f"{source.origin} --preprocess`")


def _comparable(value: Any) -> Any:
    """A plan value without what only names the model: the adapter's copy of the plan."""
    if isinstance(value, dict) and "arch_kwargs" in value:
        kwargs = {key: item for key, item in value["arch_kwargs"].items() if key != "covplan_plan"}
        return {**value, "arch_kwargs": kwargs}
    return value


def moved_plans(source: SourceModel, target_plans: dict[str, Any]) -> dict[str, Any]:
    """The source's plans of its configuration moved to the dataset ``target_plans`` (the
    target's own plans) describe, as nnU-Net's ``move_plans_between_datasets`` moves them:
    spacing, patch, batch, topology, transpose and normalisation (the CT clip values, mean
    and standard deviation too) are the source's; the dataset's name, plans name and image
    reader are the target's. covplan departs from nnU-Net in two places: only the trained
    configuration moves (the others have no weights to start from), and the median spacing
    and shape stay the target's (they describe the dataset, and the model card shows them)."""
    plans = copy.deepcopy(source.plans)
    plan = plans["configurations"][source.configuration]
    plan.pop("next_stage", None)  # the source's cascade does not come with it
    plans["configurations"] = {source.configuration: plan}
    for key in ("dataset_name", "plans_name", "image_reader_writer", "original_median_spacing_after_transp",
                "original_median_shape_after_transp"):
        if key in target_plans:
            plans[key] = target_plans[key]
    plan["data_identifier"] = shared_data_identifier(source.configuration, plan, plans)
    return plans


def init_explanation(source: SourceModel) -> list[str]:
    """The ``--explain`` lines of moved plans: where they came from and what that fixes."""
    explained = source.plans.get("covplan", {}).get("explanation", {}).get(source.configuration, [])
    return [f"plans moved from {source.origin} ({source.architecture} {source.configuration}, trained on "
            f"{source.plans.get('dataset_name', '?')}; sha256 {source.origin_sha256[:16]}...) as nnU-Net's "
            f"move_plans_between_datasets moves them: spacing, patch, batch, topology and normalisation (the source's "
            f"CT clip values, mean and std too) are the source's, so its weights see the images they were trained on",
            f"training starts from its fold {source.fold} {source.checkpoint.name}: tensors whose name and shape "
            f"match are loaded, output heads re-initialised when the labels differ (each fold's init_from.json "
            f"lists them)",
            *(f"source: {line}" for line in explained)]
