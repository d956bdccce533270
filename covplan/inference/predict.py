"""``covplan predict`` as a function: every case of an input, with one or several models and
their folds as ensemble members, written on the input's own grid."""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from covplan.atomic import remove_stale_temporaries, write_json_atomic
from covplan.conversion.dicom_series import unzipped
from covplan.errors import CovplanError
from covplan.inference.backend_choice import choose_backend
from covplan.inference.case_memory import CaseShape, refuse_if_memory_short
from covplan.inference.crop import crop_box
from covplan.inference.dicom_outputs import check_dicom_source, dicom_library, segment_labels, write_dicom_seg
from covplan.inference.inputs import InputCase, find_cases, read_case
from covplan.inference.model_loading import TrainedModel, check_models_agree, load_model, load_onnx_model
from covplan.inference.model_sources import ModelSource, model_sources
from covplan.inference.outputs import (
    NIFTI_ENDING,
    PNG_ENDING,
    VOLUME_FORMATS,
    image_on_input_grid,
    label_file,
    probability_files,
    write_label_map,
    write_nifti,
    write_probabilities,
)
from covplan.inference.predictor import DEFAULT_TILE_STEP, ModelPredictor
from covplan.inference.rtstruct import write_rtstruct
from covplan.inference.slice_skipping import SliceGate, load_slice_gate, write_slice_classification
from covplan.inference.uncertainty import (
    UNCERTAINTY_NOTE,
    UNCERTAINTY_SUMMARY,
    RunningMoments,
    lesion_uncertainty,
    predictive_entropy,
)
from covplan.json_files import read_json_if_present
from covplan.labels.roles import label_roles
from covplan.output_folder import refuse_overlap
from covplan.postprocessing.choose import postprocessing_for_models
from covplan.postprocessing.rules import apply_postprocessing
from covplan.training.distributed import resolve_device
from covplan.work_folder import DATASET_JSON, Fold

logger = logging.getLogger(__name__)

UNCERTAINTY_FOLDER = "uncertainty"
DICOM_FORMATS = ("dicom-seg", "rtstruct")
# --fast: no mirroring, and neighbouring tiles overlap by a quarter patch instead of half.
FAST_TILE_STEP = 0.75


def available_cores() -> int:
    """The cores this process may run on (a container's or a job's share, not the machine's),
    at most ``OMP_NUM_THREADS`` where that is set: a job script or a user who shares the
    machine with other work says so there, as for every OpenMP program."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


@dataclass
class PredictionSettings:
    folds: list[Fold] | None = None  # None: every trained fold of each model
    checkpoint: str = "final"  # or "best"
    use_mirroring: bool = True  # test-time augmentation
    save_probabilities: bool = False
    save_uncertainty: bool = False
    device: str = "auto"
    overwrite: bool = False
    postprocess: bool = True  # apply the rules `covplan find-best` stored with the model(s)
    skip_negative: bool = True  # slices the model's slice classifier calls lesion-free are not segmented
    # "torch", or "onnxruntime": the folds' ONNX networks (covplan export --onnx); None:
    # onnxruntime for models with ONNX networks on the CPU, else torch (covplan.inference.backend_choice)
    backend: str | None = None
    crop: str = "body"  # predict inside the body's bounding box (covplan.inference.crop), or "none"
    previous_stage: Path | None = None  # a cascade's first stage; None: the model folder beside it
    fast: bool = False  # no mirroring, FAST_TILE_STEP between tiles
    threads: int | None = None  # None: every available core
    output_format: str = "nifti"  # for volumes: a key of VOLUME_FORMATS; "dicom-seg"/"rtstruct" need DICOM input
    series_uid: str | None = None  # the DICOM series to segment; None: chosen by covplan.conversion.dicom_series

    @property
    def tile_step_size(self) -> float:
        return FAST_TILE_STEP if self.fast else DEFAULT_TILE_STEP


@dataclass
class PredictionResult:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # outputs that existed (no --overwrite)
    failed: dict[str, str] = field(default_factory=dict)  # case -> one-line reason
    classified: list[str] = field(default_factory=list)  # slices the slice classifier saw
    skipped: list[str] = field(default_factory=list)  # of them, those called negative: all background


def _output_format(case: InputCase, settings: PredictionSettings) -> str:
    return "png" if case.kind == "slice" else settings.output_format


def _check_dicom_output(cases: list[InputCase], settings: PredictionSettings, dataset_json: dict[str, Any]) -> None:
    """Refuse, before any prediction, what a DICOM output could not be written for: input
    that is no DICOM series (its slices are referenced), a series without the UIDs the
    output references, labels that are no segment numbers."""
    if settings.output_format not in DICOM_FORMATS:
        return
    if settings.output_format == "dicom-seg":
        dicom_library("highdicom")
    segment_labels(dataset_json)
    for case in cases:
        if case.kind != "dicom_series":
            raise CovplanError(f"{case.files[0]}: --output-format {settings.output_format} needs a DICOM series "
                               f"as input (its slices are referenced); predict it with --output-format nifti")
        check_dicom_source(case.files, settings.output_format)


def uncertainty_files(output_dir: Path, case_id: str) -> tuple[Path, Path]:
    """The entropy and the variance map of a case, in a subfolder: `covplan evaluate` and
    `covplan report` take every image beside the label maps for a label map."""
    folder = output_dir / UNCERTAINTY_FOLDER
    return folder / f"{case_id}_entropy{NIFTI_ENDING}", folder / f"{case_id}_variance{NIFTI_ENDING}"


def _outputs_of(case: InputCase, output_dir: Path, settings: PredictionSettings) -> tuple[Path, list[Path]]:
    """The label map of a case, which :func:`predict_case` writes last, and its other outputs."""
    others = []
    if settings.save_probabilities:
        others += probability_files(output_dir, case.case_id)
    if settings.save_uncertainty:
        others += uncertainty_files(output_dir, case.case_id)
    return label_file(output_dir, case.case_id, _output_format(case, settings)), others


def _is_kept(case: InputCase, output_dir: Path, settings: PredictionSettings) -> bool:
    """Whether a case is left as an earlier run wrote it: a case is done when its label map
    is there, since the label map is written last; outputs without it are what a killed run
    left, and are replaced."""
    label_map, others = _outputs_of(case, output_dir, settings)
    if settings.overwrite:
        return False
    if not label_map.exists():
        left = [path.name for path in others if path.exists()]
        if left:
            logger.info("%s: %s without %s, left by an interrupted run; predicting it again", case.case_id,
                        ", ".join(left), label_map.name)
        return False
    missing = [path.name for path in others if not path.exists()]
    logger.warning("%s: %s exists in %s; kept (pass --overwrite to predict it again%s)", case.case_id,
                   label_map.name, output_dir, f" with {', '.join(missing)}" if missing else "")
    return True


def _write_labels(segmentation: np.ndarray, case: InputCase, properties: dict[str, Any], output_dir: Path,
                  settings: PredictionSettings, dataset_json: dict[str, Any], algorithm_name: str) -> None:
    output_format = _output_format(case, settings)
    target = label_file(output_dir, case.case_id, output_format)
    if output_format in DICOM_FORMATS:
        writer = write_dicom_seg if output_format == "dicom-seg" else write_rtstruct
        writer(segmentation, case.files, dataset_json, algorithm_name, target)
    else:
        write_label_map(segmentation, properties, target, output_format)


def _add_uncertainty_summary(output_dir: Path, case_id: str, summary: dict[str, Any]) -> None:
    """Add a case to ``uncertainty_summary.json`` (the cases of earlier runs keep their entries)."""
    path = output_dir / UNCERTAINTY_SUMMARY
    cases = (read_json_if_present(path, "predict again with --overwrite") or {}).get("cases", {})
    cases[case_id] = summary
    write_json_atomic(path, {"score": UNCERTAINTY_NOTE, "cases": dict(sorted(cases.items()))})


def predict_case(case: InputCase, predictors: list[ModelPredictor], output_dir: Path,
                 settings: PredictionSettings, postprocessing_rules: list[dict[str, Any]] = (),
                 slice_gate: SliceGate | None = None, algorithm_name: str = "covplan") -> None:
    """Predict one case with every fold of every model and write its outputs (its
    uncertainty summary too, when asked for), the label map last. A slice that
    ``slice_gate`` calls lesion-free gets an all-background label map without
    segmentation. ``algorithm_name`` names the models in a DICOM output."""
    first = predictors[0].model
    image = read_case(case, first.intensity_domain, first.folder)
    for predictor in predictors:
        predictor.check_fits(image.data, image.is_slice, case.files[0])
    members = sum(len(predictor.model.folds) for predictor in predictors)
    # One member and nothing but labels asked for: nnU-Net's path without probabilities.
    labels_only = members == 1 and not (settings.save_probabilities or settings.save_uncertainty)
    refuse_if_memory_short(case.files[0], CaseShape(image.data.shape[1:], tuple(image.properties["spacing"]),
                                                    image.data.shape[0]),
                           [predictor.model for predictor in predictors], labels_only)
    box = crop_box(settings.crop, image.data[0], image.properties["spacing"], first.intensity_domain)
    # Each model's preprocessed image, made once: the slice classifier and the networks take
    # it (a cascade's first stage predicts inside the box too).
    inputs = [predictor.preprocess(image.data, image.properties, box) for predictor in predictors]
    if slice_gate is not None and image.is_slice:
        if not slice_gate.admits(case.case_id, inputs[0][0]):
            _write_labels(np.zeros(image.data.shape[1:], dtype=np.uint8), case, image.properties, output_dir, settings,
                          first.dataset_json, algorithm_name)
            return
    if not box.is_whole_image:
        logger.info("%s: predicting inside the body's box (%s voxels, %.0f%% of the image)", case.case_id,
                    " x ".join(map(str, box.shape)), 100 * box.fraction)
    moments = RunningMoments(track_variance=settings.save_uncertainty)
    # The case's image is not needed on the input grid again, and the logits' resampling
    # back to that grid is the peak: let it go.
    image.data = None
    with tqdm(total=members, desc=case.case_id, unit="member", leave=False) as progress:
        for predictor, (preprocessed, properties) in zip(predictors, inputs):
            for output in predictor.fold_outputs(preprocessed, properties, probabilities=not labels_only, box=box):
                if labels_only:
                    segmentation = output
                else:
                    moments.add(output)
                progress.update()
    if not labels_only:
        segmentation = first.label_manager.convert_probabilities_to_segmentation(moments.mean)
    if postprocessing_rules:
        segmentation = apply_postprocessing(np.asarray(segmentation), postprocessing_rules,
                                            image.properties["spacing"])
    if settings.save_probabilities:
        # covplan ensemble writes what the probabilities came with; it has no source series: NIfTI.
        write_probabilities(moments.mean, image.properties, output_dir, case.case_id,
                            "png" if case.kind == "slice" else "nifti")
    if settings.save_uncertainty:
        entropy = predictive_entropy(moments.mean)
        entropy_file, variance_file = uncertainty_files(output_dir, case.case_id)
        write_nifti(image_on_input_grid(entropy, image.properties), entropy_file)
        write_nifti(image_on_input_grid(moments.variance.mean(axis=0), image.properties), variance_file)
        _add_uncertainty_summary(output_dir, case.case_id, {
            **lesion_uncertainty(entropy, segmentation, label_roles(first.dataset_json).lesion_labels),
            "members": moments.count})
    # The label map last: a case counts as done only when every output is there.
    _write_labels(np.asarray(segmentation), case, image.properties, output_dir, settings, first.dataset_json,
                  algorithm_name)


def _slice_gate(models: list[TrainedModel], settings: PredictionSettings, device) -> SliceGate | None:
    """The slice classifiers of a single 2D model that has one per fold. Ensembles of
    models, ONNX Runtime (the classifiers are torch networks) and runs that save
    probabilities or uncertainty (which need the network's maps of every slice) segment
    every slice."""
    if not settings.skip_negative or len(models) != 1 or models[0].onnx_files:
        return None
    gate = load_slice_gate(models[0], device)
    if gate is not None and (settings.save_probabilities or settings.save_uncertainty):
        logger.info("slice classifier not used: --save-probabilities/--save-uncertainty need every slice segmented")
        return None
    return gate


def _load(source: ModelSource, settings: PredictionSettings) -> TrainedModel:
    if settings.backend == "onnxruntime":
        return load_onnx_model(source.folder, settings.folds, settings.previous_stage)
    return load_model(source.folder, settings.folds, source.checkpoint, settings.previous_stage)


def predict(input_path: Path, output_dir: Path, model_paths: list[Path],
            settings: PredictionSettings | None = None) -> PredictionResult:
    """Predict every case of ``input_path`` (file or folder) into ``output_dir`` with the
    models of ``model_paths`` (model folders or archives). Models that cannot be used stop
    before any work; a case that cannot be predicted is reported in the result and the
    others go on."""
    settings = settings or PredictionSettings()
    refuse_overlap(Path(output_dir), [input_path, *model_paths, settings.previous_stage])
    settings = replace(settings, backend=choose_backend(settings.backend, model_paths, settings.device))
    threads = settings.threads or available_cores()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ExitStack() as stack:
            sources = model_sources(model_paths, settings.checkpoint, settings.backend == "onnxruntime", stack)
            return _predict_cases(stack.enter_context(unzipped(Path(input_path))), output_dir, sources, settings,
                                  threads)
    finally:
        torch.set_num_threads(previous_threads)


def _predict_cases(input_path: Path, output_dir: Path, sources: list[ModelSource], settings: PredictionSettings,
                   threads: int) -> PredictionResult:
    # ONNX Runtime runs on the CPU here (its CUDA build is another package).
    device = resolve_device("cpu" if settings.backend == "onnxruntime" else settings.device)
    models = [_load(source, settings) for source in sources]
    check_models_agree(models)
    model_folders = [source.folder for source in sources]
    cases = find_cases(input_path, settings.series_uid)
    _check_dicom_output(cases, settings, models[0].dataset_json)
    algorithm_name = "+".join(dict.fromkeys(source.name for source in sources))
    use_mirroring = settings.use_mirroring and not settings.fast
    predictors = [ModelPredictor(model, device, use_mirroring, settings.tile_step_size, threads) for model in models]
    rules = postprocessing_for_models(model_folders) if settings.postprocess else []
    slice_gate = _slice_gate(models, settings, device)
    if rules:
        logger.info("post-processing chosen by find-best: %s", json.dumps(rules))
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temporaries(output_dir) + remove_stale_temporaries(output_dir / UNCERTAINTY_FOLDER):
        logger.info("removed %s, left by an interrupted run", stale)
    result = PredictionResult()
    for case in tqdm(cases, desc="cases", unit="case", disable=len(cases) == 1):
        if _is_kept(case, output_dir, settings):
            result.kept.append(case.case_id)
            continue
        try:
            predict_case(case, predictors, output_dir, settings, rules, slice_gate, algorithm_name)
        except CovplanError as error:
            if len(cases) > 1:  # the command's closing error lists it; alone, it would be said twice
                logger.error("%s", error)
            result.failed[case.case_id] = str(error)
            continue
        result.written.append(case.case_id)
    if not result.written and not result.kept:
        if created:  # nothing predicted: leave nothing behind
            shutil.rmtree(output_dir)
        return result
    # Labels and file ending of the outputs, for evaluate, report and ensemble.
    file_ending = PNG_ENDING if all(case.kind == "slice" for case in cases) else VOLUME_FORMATS[settings.output_format]
    write_json_atomic(output_dir / DATASET_JSON, {**models[0].dataset_json, "file_ending": file_ending})
    if slice_gate is not None and slice_gate.decisions:
        write_slice_classification(output_dir, slice_gate)
        result.classified, result.skipped = list(slice_gate.decisions), slice_gate.skipped
    return result
