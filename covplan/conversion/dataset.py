"""Converting a list of source cases into covplan's common format: nnU-Net v2's raw
layout (``imagesTr``, ``labelsTr``, ``imagesTs``, ``dataset.json``) plus
``covplan_dataset.json``, with workers, a progress bar, ``--skip-bad`` and a summary."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json
from tqdm import tqdm

from covplan.atomic import write_json_atomic
from covplan.conversion.output import atomic_output_dir
from covplan.errors import CovplanError
from covplan.work_folder import COVPLAN_DATASET_JSON
from covplan.write_failures import check_written

FORMAT_VERSION = 1
FILE_ENDING = ".nii.gz"
SUBSET_FOLDERS = {"train": "imagesTr", "test": "imagesTs"}

logger = logging.getLogger(__name__)


class CaseDropped(Exception):
    """Raised by a converter for a case that its options leave out on purpose (not an
    error): the case is skipped and listed in the summary."""


@dataclass(frozen=True)
class SourceCase:
    """One case found in a source dataset, before anything is read."""

    case_id: str
    patient_id: str
    subset: str  # "train" or "test"
    source_files: dict[str, Path]  # role ("image", "label", ...) -> file


@dataclass
class LoadedCase:
    """A case read, checked and mapped to the output domain, ready to be written."""

    channels: list[sitk.Image]
    label: sitk.Image | None
    source_domain: str
    intensity_transform: str = "none"
    label_from_file: bool = True  # False: no mask was given (a healthy patient's slice), all background


@dataclass(frozen=True)
class WrittenCase:
    """What ``covplan_dataset.json`` records of a written case (its images are gone)."""

    source_domain: str
    intensity_transform: str
    empty_label: bool = False  # a mask file of background only
    label_from_file: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """What holds for every case of one converted dataset."""

    converter: str
    channel_names: dict[int, str]
    labels: dict[str, int]
    intensity_domain: str  # "hu" or "grey8"
    description: str = ""
    patients: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ConversionSummary:
    """What a conversion wrote and what it skipped, and why."""

    output_dir: Path
    written: list[str]
    skipped: dict[str, str]

    def lines(self) -> list[str]:
        """Human-readable summary, one line per skipped case."""
        lines = [f"{len(self.written)} cases written to {self.output_dir}, {len(self.skipped)} skipped"]
        lines += [f"  skipped {case_id}: {reason}" for case_id, reason in sorted(self.skipped.items())]
        return lines


def ct_channel_names(intensity_domain: str) -> dict[int, str]:
    """nnU-Net channel names of a one-channel CT dataset in ``intensity_domain``."""
    # nnU-Net's "CT" scheme normalises with dataset-wide HU statistics; grey images follow
    # the published COVID-19-CT-Seg method instead (z-score per sample: "zscore").
    return {0: "CT" if intensity_domain == "hu" else "zscore"}


def convert_cases(source_dir: Path, output_dir: Path, cases: Sequence[SourceCase],
                  load_case: Callable[[SourceCase], LoadedCase], spec: DatasetSpec,
                  workers: int = 1, skip_bad: bool = False) -> ConversionSummary:
    """Load every case with ``load_case`` (``workers`` threads), write it into a staging
    folder beside ``output_dir``, write ``dataset.json`` and ``covplan_dataset.json`` and
    rename the staging folder to ``output_dir``.

    A :class:`CovplanError` from a case stops the conversion and leaves nothing behind,
    unless ``skip_bad``: then the case is skipped and listed in the summary.
    """
    if not cases:
        raise CovplanError(f"{source_dir}: no cases found; point SRC_DIR at the dataset's top folder")
    _check_unique_case_ids(cases)
    with atomic_output_dir(output_dir, source_dir) as staging:
        for subset in {case.subset for case in cases} | {"train"}:
            (staging / SUBSET_FOLDERS[subset]).mkdir()
        (staging / "labelsTr").mkdir()
        records, skipped = _run(cases, lambda case: _write_case(staging, case, load_case(case)), workers, skip_bad)
        num_training = sum(case.subset == "train" for case, _ in records)
        if num_training == 0:
            raise CovplanError(f"{source_dir}: no training case could be converted "
                               f"({len(skipped)} skipped); fix the cases listed with --skip-bad")
        _check_empty_labels(source_dir, records)
        _write_dataset_json(staging, output_dir.name, spec, num_training)
        _write_covplan_dataset_json(staging, source_dir, spec, records)
    logger.info("converted %d cases from %s into %s", len(records), source_dir, output_dir)
    return ConversionSummary(output_dir.absolute(), sorted(case.case_id for case, _ in records), skipped)


def _check_unique_case_ids(cases: Sequence[SourceCase]) -> None:
    first_by_id: dict[str, SourceCase] = {}
    for case in cases:
        if case.case_id in first_by_id:
            raise CovplanError(f"{case.source_files['image']}: same case id {case.case_id} as "
                               f"{first_by_id[case.case_id].source_files['image']}; remove one of the two")
        first_by_id[case.case_id] = case


def _check_empty_labels(source_dir: Path, records: list[tuple[SourceCase, WrittenCase]]) -> None:
    """Warn about masks of background only (a slice without lesion may be one; a lung CT
    should not); refuse a dataset whose masks are all empty: there is nothing to learn."""
    labelled = [(case, written) for case, written in records if case.subset == "train" and written.label_from_file]
    empty = sorted(case.case_id for case, written in labelled if written.empty_label)
    if empty and len(empty) == len(labelled):
        raise CovplanError(f"{source_dir}: every one of the {len(empty)} training masks is empty (background "
                           f"only), so there is nothing to learn; check that the mask files hold the labels")
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        logger.warning("%d of %d training masks are empty (background only): %s", len(empty), len(labelled), shown)


def _run(cases: Sequence[SourceCase], convert_one: Callable[[SourceCase], WrittenCase], workers: int,
         skip_bad: bool) -> tuple[list[tuple[SourceCase, WrittenCase]], dict[str, str]]:
    records: list[tuple[SourceCase, WrittenCase]] = []
    skipped: dict[str, str] = {}
    # Threads, not processes: the work is SimpleITK reading, compressing and writing,
    # which releases the GIL, and nothing has to be pickled.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(cases), desc="converting", unit="case", leave=False) as progress:
        pending = {pool.submit(convert_one, case): case for case in cases}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                case = pending.pop(future)
                progress.update()
                try:
                    records.append((case, future.result()))
                except CaseDropped as reason:
                    skipped[case.case_id] = str(reason)
                except CovplanError as error:
                    if not skip_bad:
                        for other in pending:
                            other.cancel()
                        raise
                    logger.info("skipped %s: %s", case.case_id, error)
                    skipped[case.case_id] = str(error)
    return records, skipped


def _write_image(image: sitk.Image, path: Path) -> None:
    sitk.WriteImage(image, str(path), useCompression=True)
    check_written(path, lambda written: sitk.ReadImage(str(written)))  # a full disk leaves a short file, no error


def _write_case(staging: Path, case: SourceCase, loaded: LoadedCase) -> WrittenCase:
    images_dir = staging / SUBSET_FOLDERS[case.subset]
    for channel, image in enumerate(loaded.channels):
        _write_image(image, images_dir / f"{case.case_id}_{channel:04d}{FILE_ENDING}")
    empty_label = False
    if loaded.label is not None:
        label = sitk.Cast(loaded.label, sitk.sitkUInt8)
        _write_image(label, staging / "labelsTr" / f"{case.case_id}{FILE_ENDING}")
        empty_label = loaded.label_from_file and not sitk.GetArrayViewFromImage(label).any()
    return WrittenCase(loaded.source_domain, loaded.intensity_transform, empty_label, loaded.label_from_file)


def _write_dataset_json(staging: Path, dataset_name: str, spec: DatasetSpec, num_training: int) -> None:
    generate_dataset_json(str(staging), channel_names=dict(spec.channel_names), labels=dict(spec.labels),
                          num_training_cases=num_training, file_ending=FILE_ENDING,
                          dataset_name=dataset_name, description=spec.description,
                          converted_by=f"covplan convert {spec.converter}",
                          license="see the source dataset")


def _write_covplan_dataset_json(staging: Path, source_dir: Path, spec: DatasetSpec,
                                records: list[tuple[SourceCase, WrittenCase]]) -> None:
    source_dir = source_dir.absolute()
    cases: dict[str, dict[str, Any]] = {}
    for case, written in sorted(records, key=lambda record: record[0].case_id):
        cases[case.case_id] = {
            "patient_id": case.patient_id,
            "subset": case.subset,
            "source_files": {role: str(path.absolute().relative_to(source_dir))
                             for role, path in case.source_files.items()},
            "source_domain": written.source_domain,
            "intensity_transform": written.intensity_transform,
        }
    patients = {patient: spec.patients[patient] for patient in sorted({c["patient_id"] for c in cases.values()})
                if patient in spec.patients}
    document = {"format_version": FORMAT_VERSION, "converter": spec.converter, "source_dir": str(source_dir),
                "intensity_domain": spec.intensity_domain, "cases": cases, "patients": patients}
    write_json_atomic(staging / COVPLAN_DATASET_JSON, document)

