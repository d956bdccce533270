"""A trained model folder (``WORK/<arch>__<configuration>``, or one unpacked from an
archive) loaded for prediction: its plans, labels, intensity domain and the networks of the
chosen folds (torch weights for the plugin's network, or ONNX files run by ONNX Runtime),
each checked on the way in. :mod:`covplan.inference.predictor` predicts with it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from covplan.architectures.base import architectures, get_architecture
from covplan.errors import CovplanError
from covplan.inference.onnx_backend import ONNX_DESCRIPTION_FILE, onnx_files
from covplan.json_files import read_json
from covplan.registry import PluginError
from covplan.training.checkpoints import CHECKPOINT_FORMAT_VERSION, load_checkpoint
from covplan.training.inputs import TrainingInputs
from covplan.work_folder import (
    CHECKPOINTS,
    COVPLAN_DATASET_JSON,
    DATASET_JSON,
    FINGERPRINT_JSON,
    MODEL_PLANS_JSON,
    Fold,
    fold_folder,
    model_folder_name,
    numbered_fold_folders,
    parse_fold,
)

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime")


def normalised_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """Per-class sigmoid maps divided by their sum over the classes (dim 0).

    covplan departs from nnU-Net here for plugins with ``output_activation = "sigmoid"``
    (one-vs-rest maps): the arg-max is the sigmoid's, and the maps sum to one, so they
    can be averaged with softmax models' and their entropy is defined."""
    probabilities = torch.sigmoid(logits)
    return probabilities / probabilities.sum(0, keepdim=True).clamp_min(torch.finfo(probabilities.dtype).tiny)


def _read_model_json(path: Path, folder: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CovplanError(f"{folder} is not a covplan model folder ({path.name} missing); give -m "
                           f"WORK/<arch>__<configuration> as `covplan train` wrote it")
    return read_json(path, "copy the model folder again")


def available_folds(folder: Path, checkpoint_name: str) -> list[Fold]:
    """Folds with the checkpoint: the numbered ones, or ``all`` when there are none (as
    nnU-Net's predictor chooses)."""
    numbered = [fold for fold, path in numbered_fold_folders(folder).items() if (path / checkpoint_name).is_file()]
    if numbered:
        return numbered
    return ["all"] if (fold_folder(folder, "all") / checkpoint_name).is_file() else []


def _check_version(checkpoint: dict[str, Any], path: Path) -> None:
    if checkpoint["covplan"] != CHECKPOINT_FORMAT_VERSION:
        raise CovplanError(f"{path} was written by another covplan version (checkpoint format "
                           f"{checkpoint['covplan']}, this covplan reads {CHECKPOINT_FORMAT_VERSION}); predict with "
                           f"that covplan version or train again")
    recorded = checkpoint.get("architecture", {})
    installed = architectures().get(recorded.get("name"))
    if installed is not None and installed.source.version != recorded.get("version"):
        logger.warning("%s was trained with %s %s; %s is installed", path, recorded.get("distribution"),
                       recorded.get("version"), installed.source.version)


@dataclass
class TrainedModel:
    """The plans, dataset description (as training read them) and fold networks of one
    model folder: torch weights, or (backend onnxruntime) ONNX files."""

    folder: Path
    inputs: TrainingInputs
    intensity_domain: str | None  # None: trained on plain nnU-Net data, domain unknown
    fold_weights: dict[Fold, dict[str, torch.Tensor]] = field(repr=False)
    mirror_axes: tuple[int, ...] | None
    onnx_files: dict[Fold, Path] = field(default_factory=dict)
    # Recorded at ONNX export, so that ONNX Runtime needs no plugin; None: the plugin's.
    output_activation: str | None = None
    # A cascade's second stage: its first stage, whose segmentation it takes as input.
    previous_stage: TrainedModel | None = None

    @property
    def folds(self) -> list[Fold]:
        return list(self.onnx_files or self.fold_weights)

    @property
    def plans_manager(self):
        return self.inputs.plans_manager

    @property
    def configuration_manager(self):
        return self.inputs.configuration_manager

    @property
    def dataset_json(self) -> dict[str, Any]:
        return self.inputs.dataset_json

    @property
    def configuration(self) -> str:
        return self.inputs.configuration

    @cached_property
    def label_manager(self):
        """nnU-Net's label manager, with the plugin's output activation."""
        labels = self.inputs.label_manager
        activation = self.output_activation or get_architecture(self.inputs.architecture).output_activation
        if activation == "sigmoid" and not labels.has_regions:
            return self.plans_manager.get_label_manager(self.dataset_json, inference_nonlin=normalised_sigmoid)
        return labels

    @property
    def num_input_channels(self) -> int:
        return self.inputs.num_input_channels

    @property
    def dims(self) -> int:
        return len(self.configuration_manager.patch_size)

    def build_network(self) -> torch.nn.Module:
        """The plugin's network for this model, without weights; a plugin that raises is
        refused in one line naming it (as plan and train refuse it)."""
        name = self.inputs.architecture
        plugin = get_architecture(name)
        try:
            return plugin.build_network(self.inputs.plan, self.num_input_channels,
                                        self.label_manager.num_segmentation_heads, deep_supervision=False)
        except Exception as error:  # a third party's code: any failure is the plugin's
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PluginError(f"architecture '{name}' ({architectures()[name].provider}): building its network for "
                              f"{self.folder} raised {type(error).__name__}: {reason}; fix or update the plugin "
                              f"(`covplan plugins` lists it), or install the version the model was trained "
                              f"with") from error


def _model_inputs(folder: Path, plans: dict[str, Any], architecture: str, configuration: str) -> TrainingInputs:
    dataset_json = _read_model_json(folder / DATASET_JSON, folder)
    fingerprint_file = folder / FINGERPRINT_JSON
    fingerprint = _read_model_json(fingerprint_file, folder) if fingerprint_file.is_file() else {}
    return TrainingInputs(folder.parent, architecture, configuration, plans, dataset_json, fingerprint)


def _intensity_domain(folder: Path) -> str | None:
    covplan_dataset = folder / COVPLAN_DATASET_JSON
    return _read_model_json(covplan_dataset, folder).get("intensity_domain") if covplan_dataset.is_file() else None


def previous_stage_folder(folder: Path, inputs: TrainingInputs, given: Path | None = None) -> Path | None:
    """The first stage of a cascade's second stage in ``folder``: ``given``, or the model
    folder beside it, as training and an unpacked archive lay them out; None for a model
    that is no second stage. A first stage of another architecture or configuration is
    refused: the second stage learnt from its own first stage's segmentations."""
    stage = inputs.configuration_manager.previous_stage_name
    if stage is None:
        return None
    expected = model_folder_name(inputs.architecture, stage)
    previous = Path(given) if given is not None else folder.parent / expected
    if not previous.is_dir():
        raise CovplanError(f"{folder} is a cascade's second stage and needs its first stage {expected}, which is not "
                           f"in {previous.parent}; give its model folder with --previous-stage DIR")
    if previous.name != expected:
        raise CovplanError(f"{previous}: the cascade {folder} was trained on the segmentations of {expected}; give "
                           f"that model with --previous-stage (another first stage would feed it segmentations it "
                           f"never saw)")
    return previous


def load_onnx_model(folder: Path, folds: list[Fold] | None = None, previous_stage: Path | None = None) -> TrainedModel:
    """A model folder with ``onnx.json`` and its folds' ``network.onnx`` (as ``covplan
    export --onnx`` writes them), for ONNX Runtime; the architecture's plugin is not needed.
    A cascade's second stage comes with its first stage (``previous_stage``, default the
    model folder beside it)."""
    folder = Path(folder)
    description_file = folder / ONNX_DESCRIPTION_FILE
    if not description_file.is_file():
        raise CovplanError(f"{folder}: no {ONNX_DESCRIPTION_FILE}, so no ONNX networks; export the model with "
                           f"`covplan export {folder} --onnx -o MODEL.zip` and predict from MODEL.zip, or use "
                           f"--backend torch")
    description = read_json(description_file, "export the model again with `covplan export --onnx`")
    plans = _read_model_json(folder / MODEL_PLANS_JSON, folder)
    folds = [parse_fold(str(fold)) for fold in folds] if folds else [parse_fold(fold) for fold in description["folds"]]
    inputs = _model_inputs(folder, plans, description["architecture"], description["configuration"])
    mirror_axes = description["mirror_axes"]
    previous = previous_stage_folder(folder, inputs, previous_stage)
    return TrainedModel(folder, inputs, _intensity_domain(folder), {},
                        tuple(mirror_axes) if mirror_axes is not None else None,
                        onnx_files(folder, description, folds), description["output_activation"],
                        load_onnx_model(previous, folds) if previous is not None else None)


def load_model(folder: Path, folds: list[Fold] | None = None, checkpoint: str = "final",
               previous_stage: Path | None = None) -> TrainedModel:
    """Read a model folder and the chosen folds' checkpoints (all trained folds by default);
    a missing or foreign checkpoint raises a one-line :class:`CovplanError`. A cascade's
    second stage comes with its first stage (``previous_stage``, default the model folder
    beside it), with the same folds and checkpoint."""
    folder = Path(folder)
    plans = _read_model_json(folder / MODEL_PLANS_JSON, folder)
    _read_model_json(folder / DATASET_JSON, folder)  # a folder that is no model is named before its checkpoints
    checkpoint_name = CHECKPOINTS[checkpoint]
    folds = [parse_fold(str(fold)) for fold in folds] if folds else available_folds(folder, checkpoint_name)
    if not folds:
        raise CovplanError(f"{folder}: no fold_*/{checkpoint_name}; train the model first (`covplan train`)"
                           + ("" if checkpoint == "best" else " or choose --checkpoint best"))
    weights, first, replanned = {}, None, []
    for fold in folds:
        path = fold_folder(folder, fold) / checkpoint_name
        loaded = load_checkpoint(path)
        _check_version(loaded, path)
        weights[fold] = loaded["network_weights"]
        first = first or loaded
        if loaded["init_args"]["plans"] != plans:
            replanned.append(fold)
    architecture = plans.get("covplan", {}).get("architecture") or first["architecture"]["name"]
    inputs = _model_inputs(folder, plans, architecture, first["init_args"]["configuration"])
    previous = previous_stage_folder(folder, inputs, previous_stage)
    model = TrainedModel(folder, inputs, _intensity_domain(folder), weights,
                         first.get("inference_allowed_mirroring_axes"),
                         previous_stage=load_model(previous, folds, checkpoint) if previous is not None else None)
    _load_weights(model, checkpoint_name, replanned)
    return model


def _replanned_hint(model: TrainedModel, replanned: list[Fold]) -> str:
    """What to do about folds trained on other plans than the model folder's."""
    stale = " ".join(map(str, replanned))
    current = " ".join(str(fold) for fold in model.fold_weights if fold not in replanned)
    inputs = model.inputs
    return (f"fold(s) {stale} were trained on other plans than {model.folder / MODEL_PLANS_JSON} holds now (planned "
            f"again since?); train them again (`covplan train {model.folder.parent} -a {inputs.architecture} -c "
            f"{inputs.configuration} --folds {stale}`)" + (f" or predict with -f {current}" if current else ""))


def _load_weights(model: TrainedModel, checkpoint_name: str, replanned: list[Fold]) -> None:
    """Load each fold's weights into the plugin's network once, so that a fold that does
    not fit is refused here, with the reason: plans changed since it was trained, or the
    plugin's network."""
    network = model.build_network()
    for fold, state in model.fold_weights.items():
        try:
            network.load_state_dict(state)
        except RuntimeError as error:
            reason = str(error).splitlines()[0]
            path = fold_folder(model.folder, fold) / checkpoint_name
            if fold in replanned:
                raise CovplanError(f"{path} does not fit the network of the plans now in the model folder "
                                   f"({reason}): {_replanned_hint(model, replanned)}") from error
            raise CovplanError(f"{path} does not fit the network of '{model.inputs.architecture}' installed now "
                               f"({reason}); install the plugin version it was trained with or train "
                               f"again") from error
    if replanned:
        logger.warning("%s: %s", model.folder, _replanned_hint(model, replanned))


def check_models_agree(models: list[TrainedModel]) -> None:
    """Refuse an ensemble of models that predict different labels or were trained on
    different intensity domains."""
    first = models[0]
    for model in models[1:]:
        if model.dataset_json["labels"] != first.dataset_json["labels"]:
            raise CovplanError(f"{model.folder} predicts labels {model.dataset_json['labels']}, {first.folder} "
                               f"{first.dataset_json['labels']}; ensemble only models of the same labels")
        if model.intensity_domain != first.intensity_domain:
            raise CovplanError(f"{model.folder} was trained on '{model.intensity_domain}' images, {first.folder} on "
                               f"'{first.intensity_domain}'; ensemble only models of the same intensity domain")
