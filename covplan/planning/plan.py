"""``plan_dataset``: fingerprint, per-architecture plans and patient-grouped folds for a
raw dataset, written to a WORK folder laid out like nnU-Net's preprocessed dataset folder."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from covplan.architectures.base import ArchitecturePlugin, architectures, get_architecture
from covplan.architectures.network_check import check_networks_for_planning
from covplan.atomic import copy_file_atomic, write_json_atomic
from covplan.conversion.raw_dataset import RawDataset, read_raw_dataset
from covplan.conversion.slice_format import MIXED_SPACING_RATIO
from covplan.errors import CovplanError
from covplan.fingerprinting import dataset_hash, extract_fingerprint, verify_dataset
from covplan.json_files import read_json
from covplan.labels.roles import dataset_label_manager
from covplan.losses.base import check_loss_supports_labels, get_loss
from covplan.nnunet_paths import nnunet_dataset_view, nnunet_prints_to_log
from covplan.output_folder import refuse_overlap
from covplan.planning.budget_candidates import plan_candidates
from covplan.planning.data_identifier import shared_data_identifier
from covplan.planning.explain import explain_configuration
from covplan.planning.init_source import (
    SourceModel,
    check_source_applies,
    check_source_dims,
    init_explanation,
    moved_plans,
)
from covplan.planning.planner import ArchitecturePlanner
from covplan.planning.presets import get_preset
from covplan.planning.splits import DEFAULT_NUM_FOLDS, DEFAULT_SPLIT_SEED, patient_grouped_splits, resolve_num_folds
from covplan.tracking.base import tracker_work_entries
from covplan.version import __version__
from covplan.work_folder import (
    CASCADE,
    CONFIGURATIONS,
    COVPLAN_DATASET_JSON,
    DATASET_JSON,
    FINGERPRINT_JSON,
    INIT_FROM_FOLDER,
    MAIN_CONFIGURATIONS,
    WORK_RECORD_JSON,
    plans_identifier,
    plans_path,
    splits_path,
    with_cascade_stages,
)

logger = logging.getLogger(__name__)

# nnU-Net's default memory target.
DEFAULT_GPU_MEMORY_GB = 8.0


def plan_dataset(dataset_dir: Path | RawDataset, work_dir: Path, architectures: Sequence[str] = ("plain_unet",),
                 configurations: Sequence[str] | None = None, gpu_memory_gb: float | None = None,
                 preset: str | None = None, num_folds: int | None = None, seed: int = DEFAULT_SPLIT_SEED,
                 num_processes: int = 2, budget_candidates: bool = False, loss: str | None = None,
                 init_from: SourceModel | None = None) -> dict[str, Path]:
    """Plan ``dataset_dir`` (nnU-Net raw layout, optionally with covplan_dataset.json; or
    the :class:`RawDataset` read from it) for each architecture into ``work_dir``: ``dataset_fingerprint.json``,
    ``plans_<arch>.json``, ``splits_final.json`` and copies of the dataset's JSON files.
    With ``budget_candidates`` the plans also hold the main configuration at coarser
    spacings, for :func:`covplan.workflows.fit_budget.fit_plans_to_budget` to choose from.
    Returns the plans file of each architecture. Every input is checked before anything is
    written; every file is written whole or not at all. ``loss`` is the loss training
    will use (default: each architecture's); one that cannot train on the dataset's
    regions or ignore label is refused here. With ``init_from`` the plans are the source
    model's, moved to this dataset (:func:`covplan.planning.init_source.moved_plans`); a
    source that cannot apply is refused before anything is written."""
    plugins = {name: get_architecture(name) for name in architectures}
    if init_from is not None and (preset is not None or budget_candidates):
        raise CovplanError(f"--init-from {init_from.origin} takes the source model's plans; "
                           f"{'--preset' if preset else 'planning for a time budget'} would plan others: leave it out")
    chosen_preset = get_preset(preset) if preset is not None else None
    unknown = sorted(set(configurations or ()) - set(CONFIGURATIONS))
    if unknown:
        raise CovplanError(f"unknown configuration {', '.join(unknown)}; known: {', '.join(CONFIGURATIONS)}")
    dataset = dataset_dir if isinstance(dataset_dir, RawDataset) else read_raw_dataset(dataset_dir)
    dataset_dir, dataset_json, work_dir = dataset.folder, dataset.dataset_json, Path(work_dir)
    if {"channel_names", "labels"} <= dataset_json.keys():  # else verify_dataset names what is missing
        dims = {2 if name == "2d" else 3 for name in configurations or CONFIGURATIONS}
        check_networks_for_planning(list(plugins), dims, len(dataset_json["channel_names"]),
                                    _num_segmentation_heads(dataset_json))
    if init_from is not None:
        check_source_applies(init_from, list(architectures), dataset_json,
                             (dataset.covplan_dataset or {}).get("intensity_domain"), dataset_dir,
                             list(configurations) if configurations else None)
    digest = dataset_hash(dataset_dir)
    fingerprint_file = work_dir / FINGERPRINT_JSON
    reuse_fingerprint = check_work_dir(work_dir, dataset_dir, digest) and fingerprint_file.is_file()
    if not reuse_fingerprint:  # a reused fingerprint's dataset passed the check, and its hash is unchanged
        verify_dataset(dataset_dir, num_processes)
    check_losses_support_labels(dataset_json, dataset.dataset_json_path, plugins.values(), loss)
    case_patients = dataset.cross_validated_patients
    if num_folds is None and resolve_num_folds(None, case_patients) < DEFAULT_NUM_FOLDS:
        num_patients = len(set(case_patients.values()))
        logger.warning("%s has %d patients: planning %d folds instead of %d, one patient per validation fold "
                       "(--num-folds chooses)", dataset_dir, num_patients, num_patients, DEFAULT_NUM_FOLDS)
    splits = patient_grouped_splits(case_patients, num_folds, seed, training_only=dataset.pseudo_labelled_cases)
    if reuse_fingerprint:
        fingerprint = read_json(fingerprint_file, f"plan again into a new folder or delete {work_dir}")
    else:
        fingerprint = extract_fingerprint(dataset_dir, work_dir, num_processes)
    warn_about_spacing_spread(dataset_dir, fingerprint)
    if init_from is not None:
        check_source_dims(init_from, fingerprint, dataset_dir)
    gpu_memory = DEFAULT_GPU_MEMORY_GB if gpu_memory_gb is None else float(gpu_memory_gb)
    wanted = sorted(set(with_cascade_stages(configurations or CONFIGURATIONS))
                    & set(chosen_preset.configurations if chosen_preset else CONFIGURATIONS))
    covplan_keys = {"covplan_version": __version__, "preset": chosen_preset.name if chosen_preset else None,
                    "gpu_memory_gb": gpu_memory, "dataset_hash": digest}
    memory_cache: dict[str, int] = {}
    with nnunet_dataset_view(dataset_dir, work_dir) as view:
        write_json_atomic(view.preprocessed_folder / FINGERPRINT_JSON, fingerprint)
        all_plans = {}
        for name, plugin in tqdm(plugins.items(), desc="Planning architectures", disable=len(plugins) < 2):
            planner = ArchitecturePlanner(view.dataset_name, plugin, gpu_memory, plans_identifier(name), chosen_preset,
                                          wanted, memory_cache)
            if init_from is not None:
                all_plans[name] = _plan_from_source(planner, init_from, dataset_dir.name, covplan_keys)
                continue
            all_plans[name] = _plan_architecture(planner, wanted, dataset_dir.name, fingerprint, covplan_keys,
                                                 budget_candidates)
            if CASCADE in (configurations or ()) and CASCADE not in all_plans[name]["configurations"]:
                logger.warning("no cascade for '%s': nnU-Net plans 3d_lowres only for images several times the "
                               "3d_fullres patch (a smaller --gpu-memory makes the patch smaller)", name)

    write_json_atomic(work_dir / WORK_RECORD_JSON, {"format_version": 1, "dataset_dir": str(dataset_dir.resolve()),
                                               "dataset_hash": digest})
    write_json_atomic(fingerprint_file, fingerprint)
    for file_name in (DATASET_JSON, COVPLAN_DATASET_JSON):
        if (dataset_dir / file_name).is_file():
            copy_file_atomic(dataset_dir / file_name, work_dir / file_name)
    write_json_atomic(splits_path(work_dir), splits)
    written = {}
    for name, plans in all_plans.items():
        written[name] = plans_path(work_dir, name)
        write_json_atomic(written[name], plans)
        logger.info("wrote %s", written[name])
    return written


def planned_num_folds(dataset: RawDataset, num_folds: int | None = None) -> int:
    """How many folds :func:`plan_dataset` will plan for ``dataset``: known before any
    work, so that a run can split its time budget or check the folds it was asked for."""
    return resolve_num_folds(num_folds, dataset.cross_validated_patients)


def warn_about_spacing_spread(dataset_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Warn when the cases' in-plane pixel spacings lie far apart (slices in mixed formats
    with assumed spacings, most often): resampled to one planned spacing, the finest cases
    grow many times larger and training and validation seem to hang on them."""
    in_plane = [min(spacing[-2:]) for spacing in fingerprint.get("spacings", [])]
    if not in_plane or max(in_plane) / min(in_plane) <= MIXED_SPACING_RATIO:
        return
    logger.warning("%s: in-plane pixel spacing ranges from %g to %g mm over the cases, so at one planned spacing some "
                   "cases become %.0fx as many pixels a side as others and training and validation slow down; if "
                   "slices of mixed formats had spacings assumed, convert them with one spacing (`covplan convert "
                   "slices --pixel-spacing MM`, docs/formats.md)", dataset_dir, min(in_plane), max(in_plane),
                   max(in_plane) / min(in_plane))


def _num_segmentation_heads(dataset_json: dict[str, Any]) -> int:
    """The network outputs the dataset's labels need, counted as nnU-Net counts them."""
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    return LabelManager(dataset_json["labels"], dataset_json.get("regions_class_order")).num_segmentation_heads
def check_losses_support_labels(dataset_json: dict[str, Any], source: Path, plugins: Iterable[ArchitecturePlugin],
                                loss: str | None = None) -> None:
    """Refuse a dataset whose labels (regions, an ignore label) the loss cannot train on:
    ``loss``, or without it each architecture's default loss."""
    labels = dataset_label_manager(dataset_json, source)
    if loss is not None:
        check_loss_supports_labels(get_loss(loss), labels, str(source))
        return
    for plugin in plugins:
        check_loss_supports_labels(get_loss(plugin.default_loss), labels, str(source),
                                   fix=f"it is the default loss of architecture '{plugin.name}'; plan an architecture "
                                       f"whose default loss supports them (plain_unet's dice_ce does), or give "
                                       f"plan-and-train --loss dice_ce")


def _plan_architecture(planner: ArchitecturePlanner, wanted: Sequence[str], dataset_name: str,
                       fingerprint: dict[str, Any], covplan_keys: dict[str, Any],
                       budget_candidates: bool = False) -> dict[str, Any]:
    """The plans of the planner's architecture, with covplan's block and explanations
    (and the budget candidates of its main configuration, if asked)."""
    name = planner.plugin.name
    with nnunet_prints_to_log(logger, f"planner for {name}"):
        plans = planner.plan_experiment()
        plans = _covplan_plans(plans, planner, wanted, dataset_name)
        if budget_candidates:
            main = next(c for c in MAIN_CONFIGURATIONS + tuple(plans["configurations"]) if c in plans["configurations"])
            candidates = plan_candidates(planner, plans, main)
            plans["configurations"].update(candidates)
    source = architectures()[name].source
    plans["covplan"] = {
        "architecture": name, "plugin_distribution": source.distribution, "plugin_version": source.version,
        **covplan_keys,
        **({"budget_candidates": {"configuration": main, "candidates": list(candidates)}} if budget_candidates else {}),
        "explanation": {configuration: explain_configuration(planner, configuration, plan, fingerprint,
                                                             planner.preset)
                        for configuration, plan in plans["configurations"].items()},
    }
    return plans


def _plan_from_source(planner: ArchitecturePlanner, source: SourceModel, dataset_name: str,
                      covplan_keys: dict[str, Any]) -> dict[str, Any]:
    """The source model's plans moved to the planner's dataset, with covplan's block: the
    target's own plans give only the dataset's name, plans name, image reader and medians."""
    with nnunet_prints_to_log(logger, f"planner for {source.architecture}"):
        target = planner.plan_experiment()
    plans = moved_plans(source, {**target, "dataset_name": dataset_name})
    registered = architectures()[source.architecture].source
    plans["covplan"] = {"architecture": source.architecture, "plugin_distribution": registered.distribution,
                        "plugin_version": registered.version, **covplan_keys, "init_from": source.record(),
                        "explanation": {source.configuration: init_explanation(source)}}
    return plans


def check_work_dir(work_dir: Path, dataset_dir: Path, digest: str) -> bool:
    """Refuse a WORK folder that holds another dataset's plans or files covplan did not
    write; True when it holds this very dataset's (its fingerprint can be reused). The
    files and folders trackers keep in WORK are covplan's: a plan-and-train with a tracker
    has made them before it plans."""
    refuse_overlap(work_dir, [dataset_dir])
    record_file = work_dir / WORK_RECORD_JSON
    if record_file.is_file():
        record = read_json(record_file, f"choose a new output folder or delete {work_dir}")
        if record.get("dataset_hash") != digest:
            raise CovplanError(f"{work_dir} holds plans of another dataset ({record.get('dataset_dir')}), or that "
                               f"dataset changed since; choose a new output folder or delete {work_dir}")
        return True
    covplans = {*tracker_work_entries(), INIT_FROM_FOLDER}  # --init-from unpacks archives there first
    if work_dir.is_dir() and any(not path.name.startswith(".") and path.name not in covplans
                                 for path in work_dir.iterdir()):
        raise CovplanError(f"{work_dir} is not empty and was not written by `covplan plan`; choose an empty or new "
                           f"output folder")
    return False


def _covplan_plans(plans: dict[str, Any], planner: ArchitecturePlanner, wanted: Sequence[str],
                   dataset_name: str) -> dict[str, Any]:
    """nnunetv2's plans restricted to the ``wanted`` configurations the plugin supports,
    with the plugin's network and shared data identifiers."""
    plugin: ArchitecturePlugin = planner.plugin
    planned = plans["configurations"]
    # The cascade has no plan of its own (it inherits 3d_fullres's): kept with both its stages.
    kept = {name: plan for name, plan in planned.items()
            if name in wanted and name != CASCADE and len(plan["patch_size"]) in plugin.dims}
    if not kept:
        raise CovplanError(
            f"architecture '{plugin.name}' ({'/'.join(f'{d}D' for d in plugin.dims)}) has no configuration for "
            f"this dataset: nnU-Net planned {', '.join(c for c in planned if c != CASCADE)}, requested "
            f"{', '.join(sorted(wanted))}")
    if "3d_lowres" in kept and "3d_fullres" in kept:
        kept[CASCADE] = planned[CASCADE]
    elif "3d_lowres" in kept:
        kept["3d_lowres"].pop("next_stage", None)
    for name, plan in kept.items():
        if name == CASCADE:
            continue
        plan["data_identifier"] = shared_data_identifier(name, plan, plans)
        plan["architecture"] = plugin.nnunet_architecture(plan)
    plans["configurations"] = kept
    plans["dataset_name"] = dataset_name
    return plans
