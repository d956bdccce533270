"""What training reads from a WORK folder that ``covplan plan --preprocess`` wrote (its
layout: :mod:`covplan.work_folder`), checked before a fold starts."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from covplan.architectures.base import get_architecture
from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.json_files import read_json, read_json_if_present
from covplan.training.case_files import refuse_unreadable_case_file
from covplan.work_folder import (
    CASE_FILES,
    COVPLAN_DATASET_JSON,
    DATASET_JSON,
    FINGERPRINT_JSON,
    MAIN_CONFIGURATIONS,
    MODEL_PLANS_JSON,
    Fold,
    fold_folder,
    gt_folder,
    model_folder,
    next_stage_predictions,
    plans_path,
    splits_path,
)


@dataclass(frozen=True)
class TrainingInputs:
    """The plans, dataset description and fingerprint of one architecture and
    configuration in a WORK folder."""

    work: Path
    architecture: str
    configuration: str
    plans: dict[str, Any]
    dataset_json: dict[str, Any]
    fingerprint: dict[str, Any]

    @cached_property
    def plans_manager(self):
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        return PlansManager(self.plans)

    @cached_property
    def configuration_manager(self):
        return self.plans_manager.get_configuration(self.configuration)

    @property
    def plan(self) -> dict[str, Any]:
        """The configuration's entry of the plans, with ``inherits_from`` resolved."""
        return self.configuration_manager.configuration

    @cached_property
    def label_manager(self):
        return self.plans_manager.get_label_manager(self.dataset_json)

    @property
    def num_image_channels(self) -> int:
        return len(self.dataset_json["channel_names"])

    @property
    def num_input_channels(self) -> int:
        """The network's: the image channels, and for a cascade's second stage one more per
        foreground label (the first stage's one-hot segmentation), as nnU-Net counts them."""
        from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

        return determine_num_input_channels(self.plans_manager, self.configuration_manager, self.dataset_json)

    @property
    def previous_stage(self) -> str | None:
        """The configuration whose predictions this one takes as input (a cascade's first stage)."""
        return self.configuration_manager.previous_stage_name

    @property
    def next_stages(self) -> list[str]:
        """The configurations that take this one's predictions as input."""
        return list(self.configuration_manager.next_stage_names or [])

    @property
    def previous_stage_predictions(self) -> Path | None:
        """The first stage's cross-validation predictions on this stage's grid, where the
        first stage's training wrote them (as nnU-Net's ``folder_with_segs_from_previous_stage``)."""
        if self.previous_stage is None:
            return None
        return next_stage_predictions(self.work, self.architecture, self.previous_stage, self.configuration)

    @property
    def preprocessed_folder(self) -> Path:
        return self.work / self.configuration_manager.data_identifier

    @property
    def model_folder(self) -> Path:
        return model_folder(self.work, self.architecture, self.configuration)

    def fold_folder(self, fold: Fold) -> Path:
        return fold_folder(self.model_folder, fold)


def load_training_inputs(work: Path, architecture: str, configuration: str | None = None) -> TrainingInputs:
    """Read what training ``architecture`` needs from ``work``; a missing or half-written
    WORK folder raises a :class:`CovplanError` that says which command makes it."""
    work = Path(work)
    fix = f"run `covplan plan DATASET_DIR -o {work} --arch {architecture} --preprocess` first"
    plans = read_json(plans_path(work, architecture), fix)
    planned = list(plans.get("configurations", {}))
    if configuration is None:
        configuration = next((name for name in MAIN_CONFIGURATIONS if name in planned), planned[0] if planned else None)
    if configuration not in planned:
        raise CovplanError(f"configuration '{configuration}' is not in {plans_path(work, architecture)}; "
                           f"planned: {', '.join(planned) or 'none'}")
    inputs = TrainingInputs(work, architecture, configuration, plans,
                            read_json(work / DATASET_JSON, fix), read_json(work / FINGERPRINT_JSON, fix))
    folder = inputs.preprocessed_folder
    if not folder.is_dir() or not any(folder.iterdir()):
        raise CovplanError(f"no preprocessed cases in {folder}; run `covplan preprocess {work}` "
                           f"(or `covplan plan ... --preprocess`) first")
    return inputs


def with_plan_overrides(inputs: TrainingInputs, batch_size: int | None,
                        architecture_params: dict[str, Any] | None) -> TrainingInputs:
    """``inputs`` with the configuration's batch size and architecture parameters
    (``plan["architecture_params"]``, which the plugin's build_network reads) replaced
    where given, and its nnU-Net ``architecture`` entry rebuilt so that nnU-Net's adapter
    passes them on too. The plans of the trained model are these (a search's trial
    differs from the WORK folder's plans only here)."""
    if batch_size is None and not architecture_params:
        return inputs
    plans = copy.deepcopy(inputs.plans)
    plan = plans["configurations"][inputs.configuration]
    if batch_size is not None:
        plan["batch_size"] = batch_size
    if architecture_params:
        plan["architecture_params"] = dict(architecture_params)
        resolved = {**inputs.plan, **plan}  # an inherited configuration's own keys win
        plan["architecture"] = get_architecture(inputs.architecture).nnunet_architecture(resolved)
    return replace(inputs, plans=plans)


def fold_case_identifiers(inputs: TrainingInputs, fold: Fold) -> tuple[list[str], list[str]]:
    """Training and validation case identifiers of ``fold`` from ``splits_final.json``.
    Fold ``all`` trains on every case and validates on them too, as in nnU-Net."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    if fold == "all":
        identifiers = sorted(infer_dataset_class(str(inputs.preprocessed_folder)).get_identifiers(
            str(inputs.preprocessed_folder)))
        return identifiers, identifiers
    splits_file = splits_path(inputs.work)
    splits = read_json(splits_file, f"run `covplan plan ... -o {inputs.work}` to write the folds")
    if not isinstance(fold, int) or not 0 <= fold < len(splits):
        raise CovplanError(f"fold {fold} is out of range: {splits_file} has folds 0 to {len(splits) - 1}; "
                           f"choose --folds among them, or all")
    return list(splits[fold]["train"]), list(splits[fold]["val"])


def check_case_files(inputs: TrainingInputs, train_ids: list[str], val_ids: list[str], references: bool) -> None:
    """Refuse to train when a case of the fold lacks a preprocessed file or has one that
    cannot be opened (or, with ``references``, lacks its reference label map in
    ``gt_segmentations/``): nnU-Net's loaders would fail mid-epoch, or the validation
    would quietly leave the case out."""
    folder = inputs.preprocessed_folder
    ending = "b2nd" if any(folder.glob("*.b2nd")) else "npz"
    case_files = {folder / pattern.format(case): case for case in sorted(set(train_ids) | set(val_ids))
                  for pattern in CASE_FILES[ending]}
    wanted = list(case_files)
    if references:
        file_ending = inputs.dataset_json.get("file_ending", ".nii.gz")
        wanted += [gt_folder(inputs.work) / f"{case}{file_ending}" for case in sorted(val_ids)]
    missing = [path for path in wanted if not path.is_file()]
    rebuild = f"`covplan preprocess {inputs.work} -a {inputs.architecture} -c {inputs.configuration} --overwrite`"
    if missing:
        shown = ", ".join(str(path.relative_to(inputs.work)) for path in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise CovplanError(f"{inputs.work}: {len(missing)} file(s) of the fold's cases are missing ({shown}{more}); "
                           f"rebuild them with {rebuild}")
    for path, case in case_files.items():
        refuse_unreadable_case_file(path, case, rebuild)
    if inputs.previous_stage is not None:
        _check_previous_stage(inputs, sorted(set(train_ids) | set(val_ids)))


def _check_previous_stage(inputs: TrainingInputs, case_ids: list[str]) -> None:
    """Refuse to train a cascade's second stage before its first stage has predicted every
    case of the fold: a case's prediction comes from the first stage's fold that held it
    out, so every fold of the first stage must be trained (with its validation) first."""
    folder = inputs.previous_stage_predictions
    # nnU-Net writes them in the format of the second stage's preprocessed data.
    present = {path.name.removesuffix(".b2nd").removesuffix(".npz") for path in folder.glob("*")
               if path.suffix in (".b2nd", ".npz")} if folder.is_dir() else set()
    missing = [case for case in case_ids if case not in present]
    if missing:
        splits = read_json(splits_path(inputs.work), f"plan {inputs.work} again")
        folds = " ".join(map(str, range(len(splits))))
        raise CovplanError(f"{folder}: the first stage's predictions of {len(missing)} case(s) are missing "
                           f"({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}); train every fold of "
                           f"the first stage first (with its validation): `covplan train {inputs.work} -a "
                           f"{inputs.architecture} -c {inputs.previous_stage} --folds {folds}`")


def write_model_description(inputs: TrainingInputs) -> None:
    """Plans (under nnU-Net's name ``plans.json``), dataset.json, fingerprint and, when
    the WORK folder has it, covplan_dataset.json (the intensity domain predict checks)
    beside the folds: the model folder alone is enough to predict."""
    descriptions = [(MODEL_PLANS_JSON, inputs.plans), (DATASET_JSON, inputs.dataset_json),
                    (FINGERPRINT_JSON, inputs.fingerprint)]
    covplan_dataset = read_json_if_present(inputs.work / COVPLAN_DATASET_JSON, "plan the dataset again")
    if covplan_dataset is not None:
        descriptions.append((COVPLAN_DATASET_JSON, covplan_dataset))
    for name, content in descriptions:
        write_json_atomic(inputs.model_folder / name, content)
