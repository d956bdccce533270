"""Small hand-made plans configurations in the planner's form: what ``covplan plugins
--verbose`` builds every architecture from to count its parameters, and what tests and
examples build networks from without planning a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from covplan.architectures.plain_unet import CLASS_KWARGS, PLAIN_CONV_UNET

# nnU-Net's feature caps when an architecture sets none (ExperimentPlanner.UNet_max_features_2d/3d).
NNUNET_MAX_FEATURES = {2: 512, 3: 320}


def unet_plan(patch_size: Sequence[int], strides: Sequence[Sequence[int]], base_num_features: int = 32,
              max_num_features: int | None = None, batch_size: int = 2,
              kernel_sizes: Sequence[Sequence[int]] | None = None) -> dict[str, Any]:
    """One plans configuration with nnU-Net's PlainConvUNet topology: one stage per
    entry of ``strides`` (the first is normally all ones), features doubling from
    ``base_num_features`` up to ``max_num_features`` (nnU-Net's cap when None), 3x3(x3)
    kernels unless given, two convolutions per stage, instance norm and leaky ReLU."""
    dims = len(patch_size)
    cap = NNUNET_MAX_FEATURES[dims] if max_num_features is None else max_num_features
    n_stages = len(strides)
    norm = "InstanceNorm3d" if dims == 3 else "InstanceNorm2d"
    topology = {
        "n_stages": n_stages,
        "features_per_stage": [min(base_num_features * 2**stage, cap) for stage in range(n_stages)],
        "conv_op": f"torch.nn.modules.conv.Conv{dims}d",
        "kernel_sizes": [list(k) for k in kernel_sizes] if kernel_sizes else [[3] * dims] * n_stages,
        "strides": [list(s) for s in strides],
        "n_conv_per_stage": [2] * n_stages,
        "n_conv_per_stage_decoder": [2] * (n_stages - 1),
        "conv_bias": True,
        "norm_op": f"torch.nn.modules.instancenorm.{norm}",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
    return {
        "patch_size": list(patch_size),
        "spacing": [1.0] * dims,
        "batch_size": batch_size,
        "architecture": {"network_class_name": PLAIN_CONV_UNET, "arch_kwargs": topology,
                         "_kw_requires_import": list(CLASS_KWARGS)},
    }


def reference_plan(dims: int, base_num_features: int = 32, max_num_features: int | None = None) -> dict[str, Any]:
    """A typical small plan: 3D patch 64x64x64 with five stages, 2D patch 128x128 with
    six stages (isotropic pooling by two)."""
    patch_size, n_stages = ([64, 64, 64], 5) if dims == 3 else ([128, 128], 6)
    strides = [[1] * dims] + [[2] * dims] * (n_stages - 1)
    return unet_plan(patch_size, strides, base_num_features, max_num_features)


def describe_plan(plan: dict[str, Any]) -> str:
    """One line naming a plan's patch size, stages and feature range."""
    topology = plan["architecture"]["arch_kwargs"]
    features = topology["features_per_stage"]
    return (f"patch {'x'.join(map(str, plan['patch_size']))}, {topology['n_stages']} stages, "
            f"features {features[0]}-{features[-1]}")
