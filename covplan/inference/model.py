"""A trained model folder (``WORK/<arch>__<configuration>``, or one unpacked from an
archive) loaded for prediction: its plans, labels, intensity domain and the networks of the
chosen folds (torch weights for the plugin's network, or ONNX files run by ONNX Runtime),
predicted with nnU-Net's sliding-window predictor."""

from __future__ import annotations

import contextlib
import io
import logging
from copy import deepcopy
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from covplan.architectures.inference import FullResolutionOutput
from covplan.errors import CovplanError
from covplan.inference.crop import CropBox
from covplan.inference.onnx_backend import ONNX_DESCRIPTION_FILE, OnnxNetwork, onnx_files
from covplan.json_files import read_json
from covplan.architectures.base import architectures, get_architecture
from covplan.training.checkpoints import CHECKPOINT_FORMAT_VERSION, load_checkpoint
from covplan.work_folder import Fold, parse_fold
from covplan.training.inputs import TrainingInputs

logger = logging.getLogger(__name__)

CHECKPOINTS = {"final": "checkpoint_final.pth", "best": "checkpoint_best.pth"}
BACKENDS = ("torch", "onnxruntime")
# nnU-Net's default overlap of neighbouring sliding-window tiles (half a patch).
DEFAULT_TILE_STEP = 0.5
# Outside the crop box: a logit that makes the background's softmax 1 in float16 and float32.
CERTAIN_LOGIT = 20.0


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
    numbered = sorted(int(path.parent.name.removeprefix("fold_")) for path in folder.glob(f"fold_*/{checkpoint_name}")
                      if path.parent.name.removeprefix("fold_").isdigit())
    if numbered:
        return numbered
    return ["all"] if (folder / "fold_all" / checkpoint_name).is_file() else []


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
        plugin = get_architecture(self.inputs.architecture)
        return plugin.build_network(self.inputs.plan, self.num_input_channels,
                                    self.label_manager.num_segmentation_heads, deep_supervision=False)


def _model_inputs(folder: Path, plans: dict[str, Any], architecture: str, configuration: str) -> TrainingInputs:
    dataset_json = _read_model_json(folder / "dataset.json", folder)
    fingerprint_file = folder / "dataset_fingerprint.json"
    fingerprint = _read_model_json(fingerprint_file, folder) if fingerprint_file.is_file() else {}
    return TrainingInputs(folder.parent, architecture, configuration, plans, dataset_json, fingerprint)


def _intensity_domain(folder: Path) -> str | None:
    covplan_dataset = folder / "covplan_dataset.json"
    return _read_model_json(covplan_dataset, folder).get("intensity_domain") if covplan_dataset.is_file() else None


def previous_stage_folder(folder: Path, inputs: TrainingInputs, given: Path | None = None) -> Path | None:
    """The first stage of a cascade's second stage in ``folder``: ``given``, or the model
    folder beside it, as training and an unpacked archive lay them out; None for a model
    that is no second stage. A first stage of another architecture or configuration is
    refused: the second stage learnt from its own first stage's segmentations."""
    stage = inputs.configuration_manager.previous_stage_name
    if stage is None:
        return None
    expected = f"{inputs.architecture}__{stage}"
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
    plans = _read_model_json(folder / "plans.json", folder)
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
    plans = _read_model_json(folder / "plans.json", folder)
    _read_model_json(folder / "dataset.json", folder)  # a folder that is no model is named before its checkpoints
    checkpoint_name = CHECKPOINTS[checkpoint]
    folds = [parse_fold(str(fold)) for fold in folds] if folds else available_folds(folder, checkpoint_name)
    if not folds:
        raise CovplanError(f"{folder}: no fold_*/{checkpoint_name}; train the model first (`covplan train`)"
                           + ("" if checkpoint == "best" else " or choose --checkpoint best"))
    weights, first = {}, None
    for fold in folds:
        path = folder / f"fold_{fold}" / checkpoint_name
        loaded = load_checkpoint(path)
        _check_version(loaded, path)
        weights[fold] = loaded["network_weights"]
        first = first or loaded
    architecture = plans.get("covplan", {}).get("architecture") or first["architecture"]["name"]
    inputs = _model_inputs(folder, plans, architecture, first["init_args"]["configuration"])
    previous = previous_stage_folder(folder, inputs, previous_stage)
    model = TrainedModel(folder, inputs, _intensity_domain(folder), weights,
                         first.get("inference_allowed_mirroring_axes"),
                         previous_stage=load_model(previous, folds, checkpoint) if previous is not None else None)
    network = model.build_network()
    for fold, state in weights.items():
        try:
            network.load_state_dict(state)
        except RuntimeError as error:
            raise CovplanError(f"{folder / f'fold_{fold}' / checkpoint_name} does not fit the network of "
                               f"'{architecture}' installed now ({str(error).splitlines()[0]}); install the plugin "
                               f"version it was trained with or train again") from error
    return model


def check_models_agree(models: list[TrainedModel]) -> None:
    first = models[0]
    for model in models[1:]:
        if model.dataset_json["labels"] != first.dataset_json["labels"]:
            raise CovplanError(f"{model.folder} predicts labels {model.dataset_json['labels']}, {first.folder} "
                               f"{first.dataset_json['labels']}; ensemble only models of the same labels")
        if model.intensity_domain != first.intensity_domain:
            raise CovplanError(f"{model.folder} was trained on '{model.intensity_domain}' images, {first.folder} on "
                               f"'{first.intensity_domain}'; ensemble only models of the same intensity domain")


class ModelPredictor:
    """nnU-Net's predictor (sliding windows with Gaussian weighting, mirroring) around the
    networks of one model (the plugin's torch network, or ONNX Runtime sessions); yields
    one probability map per fold on the input grid. ``threads``: ONNX Runtime's intra-op
    threads (torch's are set by the caller)."""

    def __init__(self, model: TrainedModel, device: torch.device, use_mirroring: bool = True,
                 tile_step_size: float = DEFAULT_TILE_STEP, threads: int = 1):
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        self.model = model
        if model.onnx_files:
            self.onnx_networks = {fold: OnnxNetwork(path, threads) for fold, path in model.onnx_files.items()}
        else:
            self.network = FullResolutionOutput(model.build_network()).eval()
        with contextlib.redirect_stdout(io.StringIO()):  # its note that CPU keeps results on the CPU
            self.predictor = nnUNetPredictor(tile_step_size=tile_step_size, use_gaussian=True,
                                             use_mirroring=use_mirroring,
                                             perform_everything_on_device=device.type == "cuda", device=device,
                                             allow_tqdm=False)
        self.predictor.manual_initialization(None, model.plans_manager, model.configuration_manager, None,
                                             model.dataset_json, "covplan", model.mirror_axes)
        self.predictor.label_manager = model.label_manager
        self.previous_stage = (ModelPredictor(model.previous_stage, device, use_mirroring, tile_step_size, threads)
                               if model.previous_stage is not None else None)

    def _fold_network(self, fold: Fold) -> torch.nn.Module:
        if self.model.onnx_files:
            return self.onnx_networks[fold]
        # One torch network, loaded with each fold's weights in turn; the plugin may run a
        # faster equivalent of it (a copy, e.g. coarse_refine's with batch norm folded in).
        self.network.network.load_state_dict(self.model.fold_weights[fold])
        plugin = get_architecture(self.model.inputs.architecture)
        return FullResolutionOutput(plugin.inference_network(self.network.network)).eval()

    def check_fits(self, data: np.ndarray, is_slice: bool, source: Path) -> None:
        """Refuse an image with the wrong channel count or dimensionality for this model."""
        model = self.model
        if data.shape[0] != model.inputs.num_image_channels:
            raise CovplanError(f"{source}: {data.shape[0]} channel(s), but the model {model.folder} takes "
                               f"{model.inputs.num_image_channels} "
                               f"({', '.join(model.dataset_json['channel_names'].values())}); "
                               f"give one file per channel named <case>_0000, <case>_0001, ...")
        if is_slice and model.dims == 3:
            raise CovplanError(f"{source}: a 2D image, but the model {model.folder} is 3D "
                               f"({model.configuration}); use a 2D model for slices")

    def preprocess(self, data: np.ndarray, properties: dict[str, Any], box: CropBox | None = None
                   ) -> tuple[torch.Tensor, dict[str, Any]]:
        """nnU-Net's preprocessing of the model's configuration (crop, normalise, resample).
        A cascade's second stage first segments the image with its first stage (inside
        ``box``) and takes that segmentation as one-hot channels beside the image, as
        nnU-Net's predictor does with ``prev_stage_predictions``."""
        from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

        model = self.model
        first_stage = None
        if self.previous_stage is not None:
            # Signed: nnU-Net's cropping marks the voxels outside the body -1.
            first_stage = self.previous_stage.segment(data, properties, box)[None].astype(np.int16)
        preprocessor = model.configuration_manager.preprocessor_class(verbose=False)
        preprocessed, segmentation, properties = preprocessor.run_case_npy(
            data, first_stage, deepcopy(properties), model.plans_manager, model.configuration_manager,
            model.dataset_json)
        if first_stage is not None:
            one_hot = convert_labelmap_to_one_hot(segmentation[0], model.label_manager.foreground_labels,
                                                  preprocessed.dtype)
            preprocessed = np.vstack((preprocessed, one_hot))
        return torch.from_numpy(preprocessed).to(dtype=torch.float32, memory_format=torch.contiguous_format), properties

    def segment(self, data: np.ndarray, properties: dict[str, Any], box: CropBox | None = None) -> np.ndarray:
        """The label map of the folds' mean on the input grid (a cascade's first stage)."""
        preprocessed, preprocessed_properties = self.preprocess(data, properties, box)
        folds = len(self.model.folds)
        outputs = self.fold_outputs(preprocessed, preprocessed_properties, probabilities=folds > 1, box=box)
        if folds == 1:
            return np.asarray(next(outputs))
        return np.asarray(self.model.label_manager.convert_probabilities_to_segmentation(sum(outputs) / folds))

    def _sliding_window_logits(self, preprocessed: torch.Tensor, region: tuple[slice, ...] | None) -> torch.Tensor:
        """nnU-Net's sliding-window logits of the whole preprocessed image; with ``region``
        only it is tiled, and outside it every voxel gets :data:`CERTAIN_LOGIT` for the
        background (no logit for regions, whose sigmoid then says "outside")."""
        if region is None:
            return self.predictor.predict_sliding_window_return_logits(preprocessed).cpu()
        inside = self.predictor.predict_sliding_window_return_logits(preprocessed[(slice(None), *region)]).cpu()
        has_regions = self.model.label_manager.has_regions
        logits = torch.full((inside.shape[0], *preprocessed.shape[1:]), -CERTAIN_LOGIT if has_regions else 0.0,
                            dtype=inside.dtype)
        if not has_regions:
            logits[0] = CERTAIN_LOGIT
        logits[(slice(None), *region)] = inside
        return logits

    def fold_outputs(self, preprocessed: torch.Tensor, properties: dict[str, Any], probabilities: bool = True,
                     box: CropBox | None = None):
        """For each fold, the class probabilities ``(classes, z, y, x)`` on the input grid
        (logits resampled to it, then the activation: nnU-Net's order), or with
        ``probabilities=False`` only the label map, which nnU-Net computes without the
        full-size probabilities. With ``box`` (on the input grid) only the box is tiled."""
        from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

        model = self.model
        region = None
        if box is not None and not box.is_whole_image:
            region = box.in_preprocessed(properties, model.plans_manager.transpose_forward, preprocessed.shape[1:],
                                         model.configuration_manager.patch_size)
        for fold in model.folds:
            self.predictor.network = self._fold_network(fold)
            logits = self._sliding_window_logits(preprocessed, region)
            if not probabilities and not model.label_manager.has_regions:
                yield self._labels_on_input_grid(logits, properties)
                continue
            output = convert_predicted_logits_to_segmentation_with_correct_shape(
                logits, model.plans_manager, model.configuration_manager, model.label_manager, properties,
                return_probabilities=probabilities)
            yield output[1] if probabilities else output

    def _labels_on_input_grid(self, logits: torch.Tensor, properties: dict[str, Any]) -> np.ndarray:
        """The arg-max label map on the input grid, as nnU-Net's
        ``convert_predicted_logits_to_segmentation_with_correct_shape`` makes it (its
        resampling, the crop put back, the transpose reverted), but class by class with a
        running maximum: nnU-Net holds every class's logits on the input grid and a 64-bit
        arg-max beside them (half a GB for three classes of a 512 x 512 x 133 CT), this
        two single-class maps and the labels."""
        from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image

        plans_manager, configuration = self.model.plans_manager, self.model.configuration_manager
        shape = properties["shape_after_cropping_and_before_resampling"]
        input_spacing = [properties["spacing"][axis] for axis in plans_manager.transpose_forward]
        spacing = configuration.spacing if len(configuration.spacing) == len(shape) else [input_spacing[0],
                                                                                           *configuration.spacing]
        labels = best = None
        label_type = np.uint8 if logits.shape[0] <= 256 else np.uint16
        for index in range(logits.shape[0]):
            resampled = configuration.resampling_fn_probabilities(logits[index:index + 1], shape, spacing,
                                                                  input_spacing)[0]
            if best is None:
                best, labels = resampled, np.zeros(resampled.shape, dtype=label_type)
                continue
            higher = resampled > best  # ties keep the lower class, as arg-max does
            labels[higher] = index
            np.maximum(best, resampled, out=best)
        full = np.zeros(properties["shape_before_cropping"], dtype=label_type)
        full = insert_crop_into_image(full, labels, properties["bbox_used_for_cropping"])
        return full.transpose(plans_manager.transpose_backward)
