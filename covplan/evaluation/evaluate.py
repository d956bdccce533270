"""Segmentation metrics of a prediction folder against its references, in nnU-Net's
``summary.json`` schema extended by IoU, sensitivity, specificity and precision, boundary
metrics (:mod:`covplan.evaluation.boundary`) and lesion-wise metrics
(:mod:`covplan.evaluation.lesions`).

Empty masks: a ratio whose denominator is zero is undefined for that case and stored as
``null`` (Dice and IoU when reference and prediction are both empty, sensitivity when the
reference is empty, precision when the prediction is empty, specificity when the class
fills the image). Means average the defined values only, as nnU-Net's ``nanmean`` does, and
``excluded_from_mean`` lists, per class and metric, the cases that were left out.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from nnunetv2.configuration import default_num_processes
from nnunetv2.evaluation.evaluate_predictions import (
    compute_tp_fp_fn_tn,
    label_or_region_to_key,
    region_or_label_to_mask,
    save_summary_json,
)
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter
from tqdm import tqdm

from covplan.atomic import atomic_file
from covplan.errors import CovplanError
from covplan.evaluation.boundary import DEFAULT_SURFACE_TOLERANCE_MM, boundary_metrics
from covplan.evaluation.lesions import DEFAULT_MIN_LESION_OVERLAP, lesion_metrics
from covplan.labels.files import case_files, file_ending_of, label_map_reader, read_label_map
from covplan.labels.masks import mean_of_defined, metrics_from_counts, physical_grid
from covplan.labels.roles import LabelRoles, automatic_regions, label_roles
from covplan.output_folder import refuse_overlap
from covplan.worker_lifetime import die_with_parent

logger = logging.getLogger(__name__)

LabelOrRegion = int | tuple[int, ...]
# nnU-Net's default (8, or $nnUNet_def_n_proc), but never more processes than cores.
DEFAULT_PROCESSES = max(1, min(default_num_processes, os.cpu_count() or 1))


@dataclass(frozen=True)
class MetricOptions:
    """Which metrics beyond the voxel counts to compute, and their parameters.

    ``boundary``: HD95 and NSD (the costly part: two distance transforms per class on the
    bounding box of the masks); ``surface_tolerance_mm``: the NSD tolerance; ``lesions``:
    lesion counts, detection and volume errors; ``min_lesion_overlap``: the share of a
    lesion that must be covered for it to count as found (0 = any overlap).
    """

    boundary: bool = True
    surface_tolerance_mm: float = DEFAULT_SURFACE_TOLERANCE_MM
    lesions: bool = True
    min_lesion_overlap: float = DEFAULT_MIN_LESION_OVERLAP


def class_metrics(reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float],
                  ignore_mask: np.ndarray | None = None, options: MetricOptions = MetricOptions()
                  ) -> dict[str, float | int | None]:
    """All metrics of one class: boolean masks of the reference and the prediction on a grid
    of ``spacing`` (mm, array axis order); voxels under ``ignore_mask`` are not scored."""
    metrics = metrics_from_counts(*compute_tp_fp_fn_tn(reference, prediction, ignore_mask))
    if ignore_mask is not None:
        reference, prediction = reference & ~ignore_mask, prediction & ~ignore_mask
    reference, grid_spacing = physical_grid(reference, spacing)
    prediction, _ = physical_grid(prediction, spacing)
    if options.boundary:
        metrics.update(boundary_metrics(reference, prediction, grid_spacing, options.surface_tolerance_mm))
    if options.lesions:
        metrics.update(lesion_metrics(reference, prediction, grid_spacing, options.min_lesion_overlap))
    return metrics


def case_metrics(case_id: str, reference_file: Path, prediction_file: Path, reader: BaseReaderWriter,
                 labels_or_regions: Sequence[LabelOrRegion], ignore_label: int | None = None,
                 options: MetricOptions = MetricOptions(), roles: LabelRoles | None = None) -> dict[str, Any]:
    """One case's entry of ``metric_per_case``; with ``roles`` (from dataset.json) a label
    value it does not name is refused."""
    # nnU-Net's compute_metrics is not called: it does not compare the two shapes (numpy
    # broadcasts or fails with a traceback), and the extra metrics need the same counts.
    reference, spacing = read_label_map(reader, reference_file)
    prediction, _ = read_label_map(reader, prediction_file)
    if roles is not None:
        for label_map, path in ((reference, reference_file), (prediction, prediction_file)):
            roles.refuse_unnamed_values(np.unique(label_map).tolist(), path,
                                        "give the dataset.json that names every label (--dataset-json)")
    if reference.shape != prediction.shape:
        raise CovplanError(f"{prediction_file}: shape {prediction.shape} differs from its reference "
                           f"{reference_file} {reference.shape}; predictions must lie on the reference's grid")
    ignore_mask = reference == ignore_label if ignore_label is not None else None
    metrics = {key: class_metrics(region_or_label_to_mask(reference, key), region_or_label_to_mask(prediction, key),
                                  spacing, ignore_mask, options)
               for key in labels_or_regions}
    return {"case_id": case_id, "reference_file": str(reference_file), "prediction_file": str(prediction_file),
            "metrics": metrics}


def mean_metrics(per_case: list[dict[str, Any]], keys: Sequence[LabelOrRegion]
                 ) -> tuple[dict[LabelOrRegion, dict[str, float | None]], dict[str, dict[str, list[str]]]]:
    """Per key and metric the mean of the defined per-case values, and per key and metric
    the cases whose value is undefined (left out of the mean)."""
    means: dict[LabelOrRegion, dict[str, float | None]] = {}
    excluded: dict[str, dict[str, list[str]]] = {}
    for key in keys:
        means[key] = {}
        for metric in per_case[0]["metrics"][key]:
            values = [case["metrics"][key][metric] for case in per_case]
            means[key][metric] = mean_of_defined(values)
            left_out = [case["case_id"] for case, value in zip(per_case, values) if value is None]
            if left_out:
                excluded.setdefault(label_or_region_to_key(key), {})[metric] = left_out
    return means, excluded


def foreground_mean(means: Mapping[LabelOrRegion, Mapping[str, float | None]]) -> dict[str, float | None]:
    # Only the single labels count, not the merged regions, so that the number equals
    # nnU-Net's foreground mean of the same label-based model (regions count when there
    # are no single labels).
    single_labels = [key for key in means if isinstance(key, int)] or list(means)
    foreground = [means[key] for key in single_labels if key != 0]
    return {metric: mean_of_defined(entry[metric] for entry in foreground) for metric in next(iter(means.values()))}


def _match_cases(reference_dir: Path, prediction_dir: Path, file_ending: str,
                 allow_missing_predictions: bool) -> dict[str, tuple[Path, Path]]:
    references = case_files(reference_dir, file_ending)
    predictions = case_files(prediction_dir, file_ending)
    if not predictions:
        raise CovplanError(f"{prediction_dir}: no predictions ending in {file_ending}")
    orphans = sorted(set(predictions) - set(references))
    if orphans:
        raise CovplanError(f"{predictions[orphans[0]]}: no reference {orphans[0]}{file_ending} in {reference_dir} "
                           f"({len(orphans)} prediction(s) without reference)")
    missing = sorted(set(references) - set(predictions))
    if missing and not allow_missing_predictions:
        raise CovplanError(f"{references[missing[0]]}: no prediction {missing[0]}{file_ending} in {prediction_dir} "
                           f"({len(missing)} reference(s) without prediction); "
                           "allow evaluating a subset with --allow-missing")
    return {case_id: (references[case_id], predictions[case_id]) for case_id in sorted(predictions)}


def _evaluation_keys(labels: Sequence[int], regions: Mapping[str, Sequence[int]], names: Mapping[int, str],
                     keep_region_tuples: bool = False) -> tuple[list[LabelOrRegion], dict[str, str]]:
    # A region of one label is that label, unless the dataset is region-based: its regions
    # stay tuples, so that the foreground mean (over single labels where there are any)
    # takes all of them, as nnU-Net's mean over regions does.
    keys: list[LabelOrRegion] = list(dict.fromkeys(int(label) for label in labels))
    key_names = {label_or_region_to_key(label): names.get(label, f"label_{label}") for label in keys}
    for name, members in regions.items():
        region = tuple(sorted({int(member) for member in members}))
        if not region:
            raise CovplanError(f"region {name!r} has no labels")
        key: LabelOrRegion = region[0] if len(region) == 1 and not keep_region_tuples else region
        if key not in keys:
            keys.append(key)
        key_names[label_or_region_to_key(key)] = name
    return keys, key_names


def _score_cases(compute: Callable[[str, Path, Path], dict[str, Any]], cases: Mapping[str, tuple[Path, Path]],
                 num_processes: int) -> list[dict[str, Any]]:
    columns = (list(cases), [files[0] for files in cases.values()], [files[1] for files in cases.values()])
    progress = partial(tqdm, total=len(cases), desc="evaluate", unit="case", disable=len(cases) < 2)
    workers = max(1, min(num_processes, len(cases)))
    if workers == 1:
        return list(progress(map(compute, *columns)))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        return list(progress(pool.map(compute, *columns)))


def evaluate_folder(reference_dir: Path, prediction_dir: Path, output_file: Path | None = None,
                    labels: Sequence[int] | None = None, regions: Mapping[str, Sequence[int]] | None = None,
                    dataset_json: Mapping[str, Any] | None = None,
                    num_processes: int = DEFAULT_PROCESSES,
                    allow_missing_predictions: bool = False,
                    options: MetricOptions = MetricOptions()) -> dict[str, Any]:
    """Compare every prediction in ``prediction_dir`` with the reference of the same name.

    ``labels`` default to the foreground labels of ``dataset_json``; ``regions`` (name ->
    labels, e.g. ``{"lungs": [1, 2]}``) default to the merged ``lungs`` and ``infection``
    regions found from its label names, or for a region-based dataset to its regions
    (then alone, as nnU-Net evaluates them). Voxels of the ignore label are not scored. Returns nnU-Net's summary structure (label and
    region tuple keys, as ``compute_metrics_on_folder`` returns it) plus ``names`` and
    ``excluded_from_mean``; writes it as ``output_file`` when given. ``allow_missing_predictions``
    evaluates only the predicted cases (a cross-validation fold) instead of refusing.
    ``options`` choose the boundary and lesion metrics (all on by default).
    """
    reference_dir, prediction_dir = Path(reference_dir), Path(prediction_dir)
    for folder in (reference_dir, prediction_dir):
        if not folder.is_dir():
            raise CovplanError(f"{folder}: not a folder")
    if output_file is not None:
        refuse_overlap(Path(output_file), [reference_dir], output_is_file=True)
        if Path(output_file).suffix != ".json":  # never a label map of PRED_DIR, where summary.json goes
            raise CovplanError(f"{output_file}: the summary is JSON; give an output file named NAME.json")
    roles = label_roles(dataset_json) if dataset_json is not None else None
    if labels is None:
        if roles is None:
            raise CovplanError("no labels to evaluate: give the label values or a dataset.json with 'labels'")
        labels = () if roles.regions else roles.foreground_labels  # a region-based dataset: its regions only
    if regions is None:
        regions = automatic_regions(roles) if roles is not None else {}
    keys, key_names = _evaluation_keys(labels, regions, roles.names if roles is not None else {},
                                       keep_region_tuples=roles is not None and bool(roles.regions))
    file_ending = dataset_json.get("file_ending") if dataset_json is not None else None
    file_ending = file_ending or file_ending_of(reference_dir)
    cases = _match_cases(reference_dir, prediction_dir, file_ending, allow_missing_predictions)
    reader = label_map_reader(next(iter(cases.values()))[0], file_ending, dataset_json)
    compute = partial(case_metrics, reader=reader, labels_or_regions=keys,
                      ignore_label=roles.ignore_label if roles is not None else None, options=options,
                      roles=roles)
    per_case = _score_cases(compute, cases, num_processes)
    means, excluded = mean_metrics(per_case, keys)
    summary = {"metric_per_case": per_case, "mean": means,
               "foreground_mean": foreground_mean(means),
               "names": key_names, "excluded_from_mean": excluded}
    if output_file is not None:
        with atomic_file(Path(output_file)) as temporary:
            save_summary_json(summary, str(temporary))
        logger.info("wrote %s", output_file)
    return summary

