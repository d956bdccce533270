"""A converted dataset in, planned, preprocessed, trained and cross-validated models out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from covplan.conversion.raw_dataset import read_raw_dataset
from covplan.errors import CovplanError
from covplan.json_files import read_json, read_json_if_present
from covplan.launch import Call, Launcher, run_jobs
from covplan.output_folder import refuse_overlap
from covplan.planning import plan_dataset
from covplan.planning.budget_candidates import refuse_cascade_budget
from covplan.planning.init_source import SourceModel
from covplan.planning.plan import planned_num_folds
from covplan.preprocessing import preprocess
from covplan.pseudo_labelling import PseudoLabelSettings
from covplan.tracking import RunDescription, Tracking, open_tracking
from covplan.tracking.base import flatten_params
from covplan.training import TrainingSettings, cross_validation_summary, load_training_inputs, train_fold
from covplan.training.fold_runner import fold_finished
from covplan.work_folder import (
    CV_SUMMARY_JSON,
    Fold,
    budget_record_path,
    fold_folder,
    link_work,
    plans_path,
    seed_work,
    splits_path,
)
from covplan.workflows.fit_budget import plan_for_budget
from covplan.workflows.init_from import open_source_model
from covplan.workflows.pseudo_label_rounds import check_rounds, train_with_pseudo_labels

logger = logging.getLogger(__name__)


def plan_and_train(dataset_dir: Path, work_dir: Path, architectures: Sequence[str], folds: Sequence[Fold] | None = None,
                   configuration: str | None = None, settings: TrainingSettings | None = None, resume: bool = False,
                   gpu_memory_gb: float | None = None, preset: str | None = None,
                   num_processes: int = 2, budget_scope: str = "fold", num_folds: int | None = None,
                   launcher: Launcher | None = None, repeats: int = 1, unlabelled: Path | None = None,
                   rounds: int = 1, pseudo_label_settings: PseudoLabelSettings | None = None,
                   init_from: Path | None = None) -> dict[str, dict[str, Any]]:
    """Plan ``dataset_dir`` for every architecture into ``work_dir``
    (:func:`covplan.planning.plan_dataset`, ``num_folds`` folds: by default 5, or one per
    patient when there are fewer), preprocess it, train each fold (default: every fold of
    the split) and return the cross-validation summary of each model folder (empty without
    evaluation or without numbered folds). Folds the split will not have are refused
    before any work.

    With ``settings.time_budget_s`` the plans are fitted to the budget
    (:func:`covplan.workflows.fit_budget.plan_for_budget`); ``budget_scope`` says whether the
    budget is each fold's (``fold``) or the whole run's (``total``: split evenly over
    every fold of every architecture).

    Every tracker of ``settings.trackers`` gets one run for the whole command, with each
    fold's run as its child and each model's cross-validation Dice.

    With a ``launcher`` each fold of each architecture is trained as its own job
    (:mod:`covplan.launch`; its fold run is then a run of its own in the trackers); with
    ``resume`` the folds already finished are not submitted again. The summaries are
    collected from the fold folders once every job has ended, as without one.

    With ``repeats`` N every fold is trained N times, with the seeds ``settings.seed``,
    ``settings.seed + 1``, ...: the first in ``work_dir``, each later one in
    ``work_dir/seeds/seed_S/`` (:func:`covplan.work_folder.seed_work`), a WORK folder of
    links to the same plans, data and split, so that every seed's model folder has
    nnU-Net's layout and ``compare``, ``find-best``, ``predict`` and ``export`` read it as
    any other. The summaries of later seeds are keyed by their model folder's path in
    ``work_dir`` (``seeds/seed_S/<arch>__<configuration>``).

    With ``unlabelled`` (a folder of images without labels) the run goes on for
    ``rounds`` rounds of pseudo-labelling and training again
    (:func:`covplan.workflows.pseudo_label_rounds.train_with_pseudo_labels`), within the
    same time budget, pseudo-labelling with ``pseudo_label_settings``.

    With ``init_from`` (a model folder or an archive of one model) the dataset is planned
    with that model's plans (:func:`covplan.planning.plan_dataset`'s ``init_from``; no
    architectures given: the source's) and every fold starts from its weights; a time
    budget then fits each fold's schedule, not the plans."""
    if repeats < 1:
        raise CovplanError(f"--repeats {repeats}: train each fold at least once")
    refuse_overlap(Path(work_dir), [dataset_dir])  # before a tracker makes its folder in WORK
    if unlabelled is not None:
        check_rounds(rounds, folds, launcher is not None and launcher.dry_run)
    settings = settings or TrainingSettings()
    source = open_source_model(init_from, work_dir) if init_from is not None else None
    architectures = list(architectures) or ([source.architecture] if source is not None else [])
    tracking = open_tracking(settings.trackers, settings.tracking_uri)
    run = RunDescription(name=f"plan-and-train {Path(dataset_dir).name}", kind="plan-and-train",
                         experiment=Path(dataset_dir).name, folder=Path(work_dir), work=Path(work_dir),
                         params=flatten_params({"architectures": list(architectures), "folds": folds,
                                                "configuration": configuration, "preset": preset,
                                                "budget_scope": budget_scope, "gpu_memory_gb": gpu_memory_gb,
                                                "num_folds": num_folds, "repeats": repeats,
                                                "unlabelled": str(unlabelled) if unlabelled else None,
                                                "rounds": rounds if unlabelled else None,
                                                "init_from": source.record() if source is not None else None,
                                                "settings": settings.record()}))
    with tracking.run(run):
        def train_round(dataset: Path, work: Path, round_settings: TrainingSettings) -> dict[str, dict[str, Any]]:
            return _plan_and_train(dataset, work, architectures, folds, configuration, round_settings, resume,
                                   gpu_memory_gb, preset, num_processes, budget_scope, num_folds, tracking, launcher,
                                   repeats, source)

        if unlabelled is None:
            return train_round(dataset_dir, work_dir, settings)
        return train_with_pseudo_labels(dataset_dir, work_dir, unlabelled, rounds, architectures, configuration,
                                        settings, train_round, resume, pseudo_label_settings)


def _plan_and_train(dataset_dir: Path, work_dir: Path, architectures: Sequence[str], folds: Sequence[Fold] | None,
                    configuration: str | None, settings: TrainingSettings, resume: bool, gpu_memory_gb: float | None,
                    preset: str | None, num_processes: int, budget_scope: str, num_folds: int | None,
                    tracking: Tracking, launcher: Launcher | None, repeats: int,
                    source: SourceModel | None) -> dict[str, dict[str, Any]]:
    dataset = read_raw_dataset(dataset_dir)
    configurations = [configuration] if configuration else None
    planning = dict(configurations=configurations, gpu_memory_gb=gpu_memory_gb, preset=preset,
                    num_processes=num_processes, num_folds=num_folds, loss=settings.loss)
    split_size = planned_num_folds(dataset, num_folds)
    outside = [fold for fold in folds or () if fold != "all" and not 0 <= fold < split_size]
    if outside:
        raise CovplanError(f"fold {outside[0]} is out of range: {dataset_dir} is split into {split_size} folds, 0 to "
                           f"{split_size - 1}; choose --folds among them (or all), or plan more with --num-folds")
    if settings.time_budget_s is not None:
        refuse_cascade_budget(configurations)
    if settings.time_budget_s is not None and budget_scope == "total":
        runs = len(architectures) * (len(folds) if folds is not None else split_size) * repeats
        settings = replace(settings, time_budget_s=settings.time_budget_s / runs)
    if source is not None:  # the source's plans; with a budget each fold fits its schedule to it
        plan_dataset(dataset, work_dir, architectures, init_from=source, **planning)
        preprocess(work_dir, architectures, configurations, num_processes)
    elif settings.time_budget_s is not None and resume and _fitted_to_budget(Path(work_dir), architectures):
        logger.info("resuming on the plans already fitted to the budget in %s", work_dir)
    elif settings.time_budget_s is not None:
        plan_for_budget(dataset, work_dir, architectures, settings.time_budget_s, device=settings.device,
                        num_workers=settings.num_workers, test_time_mirroring=settings.test_time_mirroring,
                        **planning)
        # What the probe measured for each candidate configuration, and which was chosen.
        tracking.log_artifacts(budget_record_path(work_dir, name) for name in architectures)
    else:
        plan_dataset(dataset, work_dir, architectures, **planning)
        preprocess(work_dir, architectures, configurations, num_processes)
    if folds is None:
        folds = list(range(len(read_json(splits_path(work_dir), "plan the dataset again"))))
    work = Path(work_dir)
    stages = {architecture: training_stages(work, architecture, configuration, folds, split_size)
              for architecture in architectures}
    repeat_works = [(work if index == 0 else _linked_seed_work(work, settings.seed + index),
                     replace(settings, seed=settings.seed + index)) for index in range(repeats)]
    if not _train_in_rounds(work, architectures, stages, repeat_works, resume, tracking, launcher, source):
        return {}  # a launcher's dry run: nothing was trained
    return _cross_validation_summaries(work, architectures, stages, repeat_works, settings.evaluate, tracking)


def _train_in_rounds(work: Path, architectures: Sequence[str], stages: dict[str, list[tuple[str, Sequence[Fold]]]],
                     repeat_works: Sequence[tuple[Path, TrainingSettings]], resume: bool, tracking: Tracking,
                     launcher: Launcher | None, source: SourceModel | None = None) -> bool:
    """Train every stage of every architecture in every seed's WORK folder; False after a
    launcher's dry run. A cascade's second stage needs every fold of its first: the stages
    run in rounds, the folds of one round (of every seed) side by side when a launcher runs
    them as jobs."""
    for round_index in range(max(len(planned) for planned in stages.values())):
        trainings = [(repeat_work, repeat_settings, architecture, *stages[architecture][round_index])
                     for repeat_work, repeat_settings in repeat_works for architecture in architectures
                     if round_index < len(stages[architecture])]
        if launcher is not None:
            _train_as_jobs(work, trainings, resume, launcher, repeat_works[0][1].device, source)
            if launcher.dry_run:
                return False
            continue
        for repeat_work, repeat_settings, architecture, stage, stage_folds in trainings:
            for fold in stage_folds:
                logger.info("training %s %s fold %s (seed %d)", architecture, stage, fold, repeat_settings.seed)
                train_fold(repeat_work, architecture, fold, stage, repeat_settings, resume=resume, tracking=tracking,
                           init_from=source)
    return True


def _cross_validation_summaries(work: Path, architectures: Sequence[str],
                                stages: dict[str, list[tuple[str, Sequence[Fold]]]],
                                repeat_works: Sequence[tuple[Path, TrainingSettings]], evaluate: bool,
                                tracking: Tracking) -> dict[str, dict[str, Any]]:
    """Each evaluated model folder's cross-validation summary, by its path in ``work``,
    reported to the trackers."""
    summaries = {}
    for repeat_work, _ in repeat_works:
        for architecture in architectures:
            for stage, stage_folds in stages[architecture]:
                model_folder = load_training_inputs(repeat_work, architecture, stage).model_folder
                name = model_folder.relative_to(work).as_posix()
                if evaluate and any(isinstance(fold, int) for fold in stage_folds):
                    summaries[name] = summary = cross_validation_summary(model_folder)
                    tracking.log_metrics({f"{name}/cv_dice_{class_name}": value
                                          for class_name, value in summary["mean"].items() if value is not None})
                    tracking.log_artifacts([model_folder / CV_SUMMARY_JSON], folder=name)
    return summaries


def _linked_seed_work(work: Path, seed: int) -> Path:
    """The WORK folder of links in which the models of ``seed`` are trained."""
    folder = seed_work(work, seed)
    link_work(work, folder)
    return folder


def _train_as_jobs(work_dir: Path, trainings: Sequence[tuple[Path, TrainingSettings, str, str, Sequence[Fold]]],
                   resume: bool, launcher: Launcher, device: str, source: SourceModel | None = None) -> None:
    """Every fold of every (WORK folder of a seed, its settings, architecture,
    configuration, folds) as its own job (with ``resume``, every fold not finished yet)."""
    calls = []
    for repeat_work, settings, architecture, configuration, folds in trainings:
        model_folder = load_training_inputs(repeat_work, architecture, configuration).model_folder
        name = model_folder.relative_to(work_dir).as_posix()
        for fold in folds:
            if resume and fold_finished(fold_folder(model_folder, fold)):
                logger.info("%s fold %s is finished: not submitted again", name, fold)
                continue
            calls.append(Call(f"{name} fold {fold}", train_fold,
                              (repeat_work, architecture, fold, configuration, settings, resume, None, source)))
    run_jobs(calls, launcher, device)


def training_stages(work_dir: Path, architecture: str, configuration: str | None, folds: Sequence[Fold],
            split_size: int) -> list[tuple[str, Sequence[Fold]]]:
    """The configurations to train, in order, with their folds: for a cascade its first
    stage on every fold of the split (each case's first-stage prediction, the second
    stage's input, comes from the fold that held the case out, so the second stage's
    every fold needs them all), then the second stage on ``folds``."""
    inputs = load_training_inputs(work_dir, architecture, configuration)
    if inputs.previous_stage is None:
        return [(inputs.configuration, folds)]
    return [(inputs.previous_stage, list(range(split_size))), (inputs.configuration, folds)]


def _fitted_to_budget(work_dir: Path, architectures: Sequence[str]) -> bool:
    """Every architecture has plans fitted to a budget: a resumed run keeps them (measuring
    again could choose otherwise, and the checkpoints belong to these plans)."""
    files = [plans_path(work_dir, architecture) for architecture in architectures]
    return all("budget" in (read_json_if_present(file, "plan again") or {"covplan": {}})["covplan"] for file in files)
