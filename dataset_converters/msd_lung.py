"""Medical Segmentation Decathlon Task06_Lung (and other single-channel CT tasks of the
MSD): a v1 ``dataset.json`` with ``modality``, ``labels``, ``training`` and ``test``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
import SimpleITK as sitk

import covplan
from covplan.conversion.dataset import (ConversionSummary, DatasetSpec, LoadedCase, SourceCase, convert_cases,
                                        ct_channel_names)
from covplan.conversion.images import (check_label_values, detect_intensity_domain, image_like, map_to_domain,
                                       mask_on_image_grid, nan_value_option, read_image)
from covplan.conversion.unlabelled import (IGNORE_NAME, labels_with_ignore, mark_unlabelled, take_unlabelled,
                                           unlabelled_value_option)
from covplan.errors import CovplanError
from covplan.json_files import read_json

NIFTI_SUFFIX = ".nii.gz"


def read_msd_dataset_json(source_dir: Path) -> dict:
    """The task's v1 ``dataset.json``, checked for what the conversion needs."""
    path = source_dir / "dataset.json"
    dataset = read_json(path, "point SRC_DIR at the task folder (e.g. Task06_Lung/) that holds its original "
                              "dataset.json, imagesTr/ and labelsTr/")
    missing = [key for key in ("modality", "labels", "training") if key not in dataset]
    if missing:
        raise CovplanError(f"{path}: keys {missing} missing; this is not an MSD v1 dataset.json")
    if list(dataset["modality"].values()) != ["CT"]:
        raise CovplanError(f"{path}: modality {dataset['modality']} is not a single CT channel; msd-lung "
                           f"converts CT tasks only")
    return dataset


def _labels(dataset: dict, path: Path) -> dict[str, int]:
    labels = {name: int(value) for value, name in dataset["labels"].items()}
    if sorted(labels.values()) != list(range(len(labels))):
        raise CovplanError(f"{path}: label values {sorted(labels.values())} are not 0, 1, 2, ...; nnU-Net needs "
                           f"consecutive labels")
    return labels


def _source_path(source_dir: Path, entry: str) -> Path:
    return source_dir / entry.removeprefix("./")


def _case_id(path: Path) -> str:
    return path.name.removesuffix(NIFTI_SUFFIX)


def find_cases(source_dir: Path, dataset: dict) -> list[SourceCase]:
    """Training and test cases as listed in ``dataset.json``; macOS ``._*`` files beside
    them are not images and are never listed."""
    cases = []
    for entry in dataset["training"]:
        image, label = _source_path(source_dir, entry["image"]), _source_path(source_dir, entry["label"])
        cases.append(SourceCase(_case_id(image), _case_id(image), "train", {"image": image, "label": label}))
    for entry in dataset.get("test", []):
        image = _source_path(source_dir, entry if isinstance(entry, str) else entry["image"])
        cases.append(SourceCase(_case_id(image), _case_id(image), "test", {"image": image}))
    return [case for case in cases if not case.source_files["image"].name.startswith("._")]


def load_case(case: SourceCase, labels: dict[str, int], intensity: str, unlabelled_value: int | None,
              nan_value: float | None = None) -> LoadedCase:
    """Read one case; the image keeps its geometry, the label is checked against it and
    against the task's ``labels`` (unlabelled voxels become their ignore label)."""
    image_path = case.source_files["image"]
    image = read_image(image_path, nan_value)
    source_domain = detect_intensity_domain(sitk.GetArrayViewFromImage(image), image_path)
    label = None
    if "label" in case.source_files:
        label_path = case.source_files["label"]
        if not label_path.is_file():
            raise CovplanError(f"{label_path}: label missing for {image_path}; add it or remove the case from "
                               f"dataset.json, or pass --skip-bad to convert the other cases without it")
        label = mask_on_image_grid(read_image(label_path), image, label_path, image_path)
        values, unlabelled = take_unlabelled(sitk.GetArrayFromImage(label), unlabelled_value)
        check_label_values(values, [value for name, value in labels.items() if name != IGNORE_NAME], label_path)
        label = image_like(mark_unlabelled(values, unlabelled, labels), image)
    image, transform = map_to_domain(image, source_domain, intensity, image_path)
    return LoadedCase([image], label, source_domain, transform)


class MsdLungConverter(covplan.ConverterPlugin):
    """MSD Task06_Lung (v1 dataset.json, imagesTr/, labelsTr/, imagesTs/) -> labels from its dataset.json.

    Cases are those listed in the task's dataset.json ("training" with labels, "test"
    without), so the macOS "._*" files of the official tarball are ignored. Labels and
    their names come from dataset.json (Task06: 0 background, 1 cancer). Images stay in
    HU unless --intensity grey8 maps them to 0..255 like COVID-19-CT-Seg's default.
    --unlabelled-value V marks label value V as not annotated: it becomes the ignore label
    (after the task's highest label) that training and evaluation skip.

    \b
    Example:
        covplan demo-data demo_work/raw_msd --kind msd
        covplan convert msd-lung demo_work/raw_msd demo_work/converted_msd
    """

    name = "msd-lung"

    def click_params(self) -> list[click.Parameter]:
        return [click.Option(["--intensity"], type=click.Choice(["hu", "grey8"]), default="hu", show_default=True,
                             help="Domain of the written images: hu keeps HU, grey8 clips to [-1250, 250] "
                                  "and scales to 0..255."),
                unlabelled_value_option(),
                nan_value_option()]

    def convert(self, source_dir: Path, output_dir: Path, intensity: str = "hu", unlabelled_value: int | None = None,
                nan_value: float | None = None, workers: int = 1, skip_bad: bool = False) -> ConversionSummary:
        dataset = read_msd_dataset_json(source_dir)
        labels = labels_with_ignore(_labels(dataset, source_dir / "dataset.json"), unlabelled_value)
        spec = DatasetSpec(self.name, ct_channel_names(intensity), labels, intensity,
                           description=f"MSD {dataset.get('name', 'task')} converted by covplan")
        load = partial(load_case, labels=labels, intensity=intensity, unlabelled_value=unlabelled_value,
                       nan_value=nan_value)
        return convert_cases(source_dir, output_dir, find_cases(source_dir, dataset), load, spec, workers, skip_bad)
