"""Prediction with one loaded model (:mod:`covplan.inference.model_loading`): nnU-Net's
sliding-window predictor around its fold networks, and the probabilities or labels of each
fold brought back to the input grid."""

from __future__ import annotations

import contextlib
import io
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from covplan.architectures.base import get_architecture
from covplan.architectures.inference import FullResolutionOutput
from covplan.errors import CovplanError
from covplan.inference.crop import CropBox
from covplan.inference.model_loading import TrainedModel
from covplan.inference.onnx_backend import OnnxNetwork
from covplan.inference.resampling import labels_on_input_grid
from covplan.work_folder import Fold

# nnU-Net's default overlap of neighbouring sliding-window tiles (half a patch).
DEFAULT_TILE_STEP = 0.5
# Outside the crop box: a logit that makes the background's softmax 1 in float16 and float32.
CERTAIN_LOGIT = 20.0


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
                yield labels_on_input_grid(logits, properties, model.plans_manager, model.configuration_manager)
                continue
            output = convert_predicted_logits_to_segmentation_with_correct_shape(
                logits, model.plans_manager, model.configuration_manager, model.label_manager, properties,
                return_probabilities=probabilities)
            yield output[1] if probabilities else output
