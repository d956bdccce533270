"""The predicted logits brought back to the input grid as a label map, slab by slab.

nnU-Net's ``convert_predicted_logits_to_segmentation_with_correct_shape`` resamples every
class's logits to the whole input grid at once, in float64, with three int64 coordinate
grids of the input's size for the step along z (``resample_data_or_seg``): its users find
this the memory hog of prediction (nnU-Net issue #2912). covplan computes the same labels
with a running arg-max over the classes, and where nnU-Net's resampling treats the slices
of one axis apart (an anisotropic image: each slice resized in-plane, then the nearest
slice taken along z; or no resampling at all) it does so in slabs of :data:`SLAB_SLICES`
slices along that axis, so that the peak is a slab's, not classes x the whole grid's.
The arithmetic of every voxel is nnU-Net's own (its in-plane ``resize`` of each slice, the
slice scipy's nearest-neighbour ``map_coordinates`` picks): the labels are identical. Where
the resampling mixes slices (isotropic spline or linear resampling over the whole volume,
or a plan's own resampling function) the whole grid is resampled, as before, class by class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from nnunetv2.configuration import ANISO_THRESHOLD
from nnunetv2.preprocessing.resampling.default_resampling import determine_do_sep_z_and_axis
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from scipy.ndimage import map_coordinates
from skimage.transform import resize

# Output slices per slab: 16 slices of a 1024 x 1024 grid are 128 MB in float64.
SLAB_SLICES = 16
NNUNET_RESAMPLING = "resample_data_or_seg_to_shape"

# A piece of the output grid and, for a class index, that class's resampled values on it.
Piece = tuple[tuple[slice, ...], Callable[[int], np.ndarray]]


class SlabResampler:
    """nnU-Net's resampling of one class's logits (order ``order`` in-plane, nearest
    neighbour along ``axis``), one slab of output slices along ``axis`` at a time."""

    def __init__(self, source_shape: tuple[int, ...], new_shape: tuple[int, ...], axis: int, order: int):
        self.axis, self.order = axis, order
        self.unchanged = tuple(source_shape) == tuple(new_shape)  # nnU-Net then returns the logits as they are
        self.in_plane_shape = tuple(size for index, size in enumerate(new_shape) if index != axis)
        source_slices, new_slices = source_shape[axis], new_shape[axis]
        # nnU-Net's coordinate along the axis, rounded as scipy's order-0 map_coordinates rounds it.
        coordinates = float(source_slices) / new_slices * (np.arange(new_slices) + 0.5) - 0.5
        self.source_index = map_coordinates(np.arange(source_slices, dtype=float), coordinates[None], order=0,
                                            mode="nearest").astype(int)

    def slab(self, class_logits: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The output slices ``start:stop`` along the axis of one class's resampled logits,
        in the logits' dtype (nnU-Net's output dtype)."""
        needed = self.source_index[start:stop]
        resized = {}
        for index in np.unique(needed):
            source = np.take(class_logits, index, axis=self.axis).astype(float)
            resized[index] = source if self.unchanged else resize(source, self.in_plane_shape, self.order,
                                                                  mode="edge", anti_aliasing=False)
        return np.stack([resized[index] for index in needed], axis=self.axis).astype(class_logits.dtype)


def slab_resampler(configuration: ConfigurationManager, source_shape: tuple[int, ...], new_shape: tuple[int, ...],
                   current_spacing: list[float], new_spacing: list[float]) -> SlabResampler | None:
    """A :class:`SlabResampler` where it computes exactly what the configuration's
    resampling of probabilities computes, else None."""
    if configuration.configuration.get("resampling_fn_probabilities") != NNUNET_RESAMPLING:
        return None
    kwargs = configuration.configuration.get("resampling_fn_probabilities_kwargs", {})
    order, order_z = kwargs.get("order", 3), kwargs.get("order_z", 0)
    if tuple(source_shape) == tuple(new_shape):
        return SlabResampler(source_shape, new_shape, 0, order)
    separate, axis = determine_do_sep_z_and_axis(kwargs.get("force_separate_z", False), current_spacing, new_spacing,
                                                 kwargs.get("separate_z_anisotropy_threshold", ANISO_THRESHOLD))
    if not separate or (order_z != 0 and source_shape[axis] != new_shape[axis]):
        return None
    return SlabResampler(source_shape, new_shape, axis, order)


def _pieces(logits: torch.Tensor, shape: tuple[int, ...], spacing: list[float], input_spacing: list[float],
            configuration: ConfigurationManager, slab_slices: int | None) -> Iterator[Piece]:
    """The output grid in slabs where that is exact (and ``slab_slices`` is given), else whole."""
    array = logits.numpy() if isinstance(logits, torch.Tensor) else logits
    resampler = slab_resampler(configuration, array.shape[1:], shape, spacing, input_spacing) if slab_slices else None
    if resampler is None:
        yield tuple(slice(None) for _ in shape), lambda index: configuration.resampling_fn_probabilities(
            array[index:index + 1], shape, spacing, input_spacing)[0]
        return
    for start in range(0, shape[resampler.axis], slab_slices):
        stop = min(start + slab_slices, shape[resampler.axis])
        region = tuple(slice(start, stop) if axis == resampler.axis else slice(None) for axis in range(len(shape)))
        yield region, lambda index, start=start, stop=stop: resampler.slab(array[index], start, stop)


def labels_on_input_grid(logits: torch.Tensor, properties: dict, plans_manager: PlansManager,
                         configuration: ConfigurationManager, slab_slices: int | None = SLAB_SLICES) -> np.ndarray:
    """The arg-max label map on the input grid, as nnU-Net's
    ``convert_predicted_logits_to_segmentation_with_correct_shape`` makes it (its
    resampling, the crop put back, the transpose reverted), class by class with a running
    maximum, in slabs of ``slab_slices`` where that is exact (None: the whole grid)."""
    from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image

    shape = tuple(properties["shape_after_cropping_and_before_resampling"])
    input_spacing = [properties["spacing"][axis] for axis in plans_manager.transpose_forward]
    spacing = configuration.spacing if len(configuration.spacing) == len(shape) else [input_spacing[0],
                                                                                       *configuration.spacing]
    label_type = np.uint8 if logits.shape[0] <= 256 else np.uint16
    labels = np.zeros(shape, dtype=label_type)
    for region, resampled_class in _pieces(logits, shape, spacing, input_spacing, configuration, slab_slices):
        best = resampled_class(0)
        for index in range(1, logits.shape[0]):
            resampled = resampled_class(index)
            labels[region][resampled > best] = index  # ties keep the lower class, as arg-max does
            np.maximum(best, resampled, out=best)
    full = np.zeros(properties["shape_before_cropping"], dtype=label_type)
    full = insert_crop_into_image(full, labels, properties["bbox_used_for_cropping"])
    return full.transpose(plans_manager.transpose_backward)
