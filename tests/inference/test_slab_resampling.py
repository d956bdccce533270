"""The label map on the input grid, resampled in slabs: the labels nnU-Net's whole-grid
resampling gives, for slab sizes that do and do not divide the axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager

from covplan.inference.resampling import labels_on_input_grid, slab_resampler

NNUNET_KWARGS = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}


def configuration(spacing: list[float], **kwargs) -> ConfigurationManager:
    return ConfigurationManager({"architecture": {}, "spacing": spacing,
                                 "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
                                 "resampling_fn_probabilities_kwargs": {**NNUNET_KWARGS, **kwargs}})


def nnunet_labels(logits: torch.Tensor, properties: dict, config: ConfigurationManager) -> np.ndarray:
    """The oracle: every class resampled to the whole grid at once, then arg-max, put in its crop."""
    shape = properties["shape_after_cropping_and_before_resampling"]
    resampled = config.resampling_fn_probabilities(logits, shape, config.spacing, properties["spacing"])
    full = np.zeros(properties["shape_before_cropping"], dtype=np.uint8)
    (z0, z1), (y0, y1), (x0, x1) = properties["bbox_used_for_cropping"]
    full[z0:z1, y0:y1, x0:x1] = np.argmax(resampled, axis=0)
    return full


# (preprocessed spacing, input spacing, input crop shape): anisotropic (z slices apart,
# resampled along z), a 2D-like plan (z untouched), no resampling, and isotropic (whole grid).
CASES = {"anisotropic": ([3.0, 1.0, 1.0], [2.5, 0.8, 0.8], (11, 15, 12)),
         "z unchanged": ([2.5, 1.0, 1.0], [2.5, 0.7, 0.7], (9, 17, 14)),
         "same grid": ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], (9, 12, 10)),
         "isotropic": ([1.0, 1.0, 1.0], [0.8, 0.8, 0.8], (11, 15, 12))}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("slab_slices", [1, 4, 7, 64])
def test_slabs_give_nnunets_labels(case, slab_slices):
    spacing, input_spacing, crop_shape = CASES[case]
    config = configuration(spacing)
    source_shape = tuple(round(size * input / preprocessed)
                         for size, input, preprocessed in zip(crop_shape, input_spacing, spacing))
    logits = torch.from_numpy(np.random.default_rng(7).normal(size=(3, *source_shape)).astype(np.float16))
    properties = {"shape_after_cropping_and_before_resampling": crop_shape, "spacing": input_spacing,
                  "shape_before_cropping": (crop_shape[0] + 2, crop_shape[1] + 3, crop_shape[2]),
                  "bbox_used_for_cropping": [[1, 1 + crop_shape[0]], [2, 2 + crop_shape[1]], [0, crop_shape[2]]]}
    plans = PlansManager({"transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2]})
    expected = nnunet_labels(logits, properties, config)
    assert len(np.unique(expected)) == 3
    np.testing.assert_array_equal(labels_on_input_grid(logits, properties, plans, config, slab_slices), expected)
    np.testing.assert_array_equal(labels_on_input_grid(logits, properties, plans, config, None), expected)
    in_slabs = slab_resampler(config, source_shape, crop_shape, spacing, input_spacing) is not None
    assert in_slabs == (case != "isotropic")


def test_a_plan_that_interpolates_along_z_is_resampled_whole():
    assert slab_resampler(configuration([3.0, 1.0, 1.0], order_z=1), (4, 8, 8), (5, 10, 10), [3.0, 1.0, 1.0],
                          [2.5, 0.8, 0.8]) is None
