"""COVID-19-CT-Seg (Ma et al., Zenodo 3757476): 20 chest CTs with lung and infection masks,
in the Zenodo layout or the widely used renamed copy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
import click
import numpy as np
import SimpleITK as sitk

import covplan
from covplan.conversion.dataset import (CaseDropped, ConversionSummary, DatasetSpec, LoadedCase, SourceCase,
                                        ct_channel_names, convert_cases)
from covplan.conversion.images import (NIFTI_SUFFIXES, check_label_values, detect_intensity_domain, image_like,
                                       map_to_domain, mask_on_image_grid, nan_value_option, read_image)
from covplan.conversion.unlabelled import labels_with_ignore, mark_unlabelled, take_unlabelled, unlabelled_value_option
from covplan.errors import CovplanError

# Source mask values: Lung_and_Infection_Mask 1 left lung, 2 right lung, 3 infection;
# Lung_Mask 1 left, 2 right; Infection_Mask 1 infection.
SOURCE_LEFT, SOURCE_RIGHT, SOURCE_INFECTION = 1, 2, 3


@dataclass(frozen=True)
class Layout:
    """Where one variant of the dataset keeps its images and masks."""

    images: str
    combined_masks: str
    lung_masks: str
    infection_masks: str


ZENODO = Layout("COVID-19-CT-Seg_20cases", "Lung_and_Infection_Mask", "Lung_Mask", "Infection_Mask")
RENAMED_COPY = Layout("ct_scans", "lung_and_infection_mask", "lung_mask", "infection_mask")

# The renamed copy calls the images coronacases_org_001.nii and
# radiopaedia_org_covid-19-pneumonia-4_85506_1-dcm.nii, the masks coronacases_001.nii and
# radiopaedia_4_85506_1.nii.
RENAMED_IMAGE_PATTERNS = ((re.compile(r"^coronacases_org_(\d+)$"), r"coronacases_\1"),
                          (re.compile(r"^radiopaedia_org_covid-19-pneumonia-(\d+)_(\d+)_(\d+)-dcm$"),
                           r"radiopaedia_\1_\2_\3"))


def _strip_nifti_suffix(name: str) -> str | None:
    return next((name[: -len(suffix)] for suffix in NIFTI_SUFFIXES if name.endswith(suffix)), None)


def _case_id(stem: str) -> str:
    for pattern, replacement in RENAMED_IMAGE_PATTERNS:
        if pattern.match(stem):
            return pattern.sub(replacement, stem)
    return stem


def _find_mask(folder: Path, case_id: str) -> Path:
    candidates = [folder / f"{case_id}{suffix}" for suffix in NIFTI_SUFFIXES]
    return next((path for path in candidates if path.is_file()), candidates[0])


def find_cases(source_dir: Path) -> list[SourceCase]:
    """Detect the layout and pair every image with its masks (which may be missing: that
    is reported per case when it is converted)."""
    layout = next((layout for layout in (ZENODO, RENAMED_COPY) if (source_dir / layout.images).is_dir()), None)
    if layout is None:
        raise CovplanError(f"{source_dir}: neither {ZENODO.images}/ (Zenodo layout) nor {RENAMED_COPY.images}/ "
                           f"(renamed copy) found; point SRC_DIR at the folder that holds them")
    use_combined = (source_dir / layout.combined_masks).is_dir()
    if not use_combined and not ((source_dir / layout.lung_masks).is_dir()
                                 and (source_dir / layout.infection_masks).is_dir()):
        raise CovplanError(f"{source_dir}: no masks found; expected {layout.combined_masks}/ or both "
                           f"{layout.lung_masks}/ and {layout.infection_masks}/ beside {layout.images}/")
    cases = []
    for image in sorted((source_dir / layout.images).iterdir()):
        stem = _strip_nifti_suffix(image.name)
        if stem is None or image.name.startswith("."):
            continue
        case_id = _case_id(stem)
        if use_combined:
            masks = {"label": _find_mask(source_dir / layout.combined_masks, case_id)}
        else:
            masks = {"lung_mask": _find_mask(source_dir / layout.lung_masks, case_id),
                     "infection_mask": _find_mask(source_dir / layout.infection_masks, case_id)}
        cases.append(SourceCase(case_id, case_id, "train", {"image": image, **masks}))
    return cases


def _read_mask(path: Path, image: sitk.Image, image_path: Path, allowed: tuple[int, ...],
               unlabelled_value: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A mask's values (its unlabelled voxels as background) and where it is unlabelled."""
    if not path.is_file():
        raise CovplanError(f"{path}: mask missing for {image_path}; add it, or pass --skip-bad to convert the "
                           f"other cases without this one")
    mask = mask_on_image_grid(read_image(path), image, path, image_path)
    values, unlabelled = take_unlabelled(sitk.GetArrayFromImage(mask), unlabelled_value)
    check_label_values(values, allowed, path)
    return values.astype(np.uint8), unlabelled


def _target_labels(case: SourceCase, image: sitk.Image, keep_left_right: bool, unlabelled_value: int | None,
                   labels: dict[str, int]) -> np.ndarray:
    image_path = case.source_files["image"]
    if "label" in case.source_files:
        source, unlabelled = _read_mask(case.source_files["label"], image, image_path,
                                        (0, SOURCE_LEFT, SOURCE_RIGHT, SOURCE_INFECTION), unlabelled_value)
    else:
        source, unlabelled = _read_mask(case.source_files["lung_mask"], image, image_path,
                                        (0, SOURCE_LEFT, SOURCE_RIGHT), unlabelled_value)
        infection, unlabelled_infection = _read_mask(case.source_files["infection_mask"], image, image_path, (0, 1),
                                                     unlabelled_value)
        source[infection > 0] = SOURCE_INFECTION  # infection wins where both are set
        if unlabelled is not None:
            unlabelled |= unlabelled_infection
    if not keep_left_right:
        source = np.where(source == SOURCE_INFECTION, 2, (source > 0)).astype(np.uint8)
    return mark_unlabelled(source, unlabelled, labels)


def load_case(case: SourceCase, intensity: str, keep_left_right: bool, drop_grey: bool,
              unlabelled_value: int | None, labels: dict[str, int], nan_value: float | None = None) -> LoadedCase:
    """Read one case, map it to the output intensity domain and its masks to covplan's
    ``labels`` (unlabelled voxels to their ignore label); images keep their spacing,
    origin and direction."""
    image_path = case.source_files["image"]
    image = read_image(image_path, nan_value)
    array = sitk.GetArrayFromImage(image)
    source_domain = detect_intensity_domain(array, image_path)
    labels = _target_labels(case, image, keep_left_right, unlabelled_value, labels)
    if intensity == "hu" and source_domain == "grey8" and drop_grey:
        raise CaseDropped(f"{image_path.name} is 8-bit grey, not HU (dropped by --drop-grey)")
    image, transform = map_to_domain(image, source_domain, intensity, image_path)
    return LoadedCase([image], image_like(labels, image), source_domain, transform)


class CovidCtSegConverter(covplan.ConverterPlugin):
    """COVID-19-CT-Seg (Zenodo layout or the renamed ct_scans/ copy) -> 0 background, 1 lung, 2 infection.

    Reads COVID-19-CT-Seg_20cases/ with Lung_and_Infection_Mask/ (or Lung_Mask/ and
    Infection_Mask/), or the renamed copy ct_scans/ with lung_and_infection_mask/ (or
    lung_mask/ and infection_mask/). Left and right lung are merged into one lung label
    and infection wins where it overlaps the lungs (--keep-left-right: 1 left lung,
    2 right lung, 3 infection). The intensity domain is detected per case from the
    values: by default HU cases are clipped to [-1250, 250] and scaled to 0..255 as the
    published method does, so that all cases share the radiopaedia cases' grey domain;
    --intensity hu keeps HU and refuses the grey cases (or leaves them out with
    --drop-grey). Images are never flipped or resampled. --unlabelled-value V marks
    mask value V as not annotated: it becomes the ignore label (3, or 4 with
    --keep-left-right) that training and evaluation skip.

    \b
    Example:
        covplan demo-data demo_work/raw_ct3d --kind ct3d
        covplan convert covid-ct-seg demo_work/raw_ct3d demo_work/converted_ct3d
    """

    name = "covid-ct-seg"

    def click_params(self) -> list[click.Parameter]:
        return [
            click.Option(["--intensity"], type=click.Choice(["grey8", "hu"]), default="grey8", show_default=True,
                         help="Domain of the written images: grey8 maps HU cases to 0..255, hu keeps HU."),
            click.Option(["--drop-grey"], is_flag=True,
                         help="With --intensity hu: leave the grey cases out (listed as skipped) instead of failing."),
            click.Option(["--keep-left-right"], is_flag=True,
                         help="Keep left (1) and right (2) lung apart; infection becomes 3."),
            unlabelled_value_option(),
            nan_value_option(),
        ]

    def convert(self, source_dir: Path, output_dir: Path, intensity: str = "grey8", drop_grey: bool = False,
                keep_left_right: bool = False, unlabelled_value: int | None = None, nan_value: float | None = None,
                workers: int = 1, skip_bad: bool = False) -> ConversionSummary:
        if keep_left_right:
            labels = {"background": 0, "left lung": 1, "right lung": 2, "infection": 3}
        else:
            labels = {"background": 0, "lung": 1, "infection": 2}
        labels = labels_with_ignore(labels, unlabelled_value)
        spec = DatasetSpec(self.name, ct_channel_names(intensity), labels, intensity,
                           description="COVID-19-CT-Seg (Ma et al., Zenodo 3757476) converted by covplan")
        load = partial(load_case, intensity=intensity, keep_left_right=keep_left_right, drop_grey=drop_grey,
                       unlabelled_value=unlabelled_value, labels=labels, nan_value=nan_value)
        return convert_cases(source_dir, output_dir, find_cases(source_dir), load, spec, workers, skip_bad)

