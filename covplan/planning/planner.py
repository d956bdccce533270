"""nnU-Net's default experiment planner, run once per architecture plugin.

:class:`ArchitecturePlanner` is nnunetv2's ``ExperimentPlanner`` with three changes, each
made where nnunetv2 offers an override point:

- feature counts come from the plugin (``base_num_features``, ``max_num_features``);
- the memory estimate that sizes patch and batch is the plugin's own: nnU-Net's estimate
  for a plain U-Net of the same topology, scaled by the ratio of the plugin's measured
  training memory to plain_unet's (so plain_unet plans are exactly nnunetv2's, and a
  heavier network gets a smaller patch or batch under the same budget);
- a preset may fix spacing, patch, batch and normalisation.

Everything else (target spacing, anisotropy handling, transpose, topology, the patch
shrinking loop, the 5 % batch cap, normalisation, resampling, 3d_lowres) is nnunetv2's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

from covplan.architectures.base import ArchitecturePlugin
from covplan.architectures.plain_unet import CLASS_KWARGS, PLAIN_CONV_UNET, PlainUNet
from covplan.errors import CovplanError
from covplan.planning.presets import Preset

GIB = 1024**3
# nnU-Net's minimum batch size: the shrink loop makes room for at least this many patches.
MIN_BATCH_SIZE = 2


class MemoryTargetTooSmall(CovplanError):
    """Not even the smallest patch nnU-Net's topology rules allow fits the memory target."""


@dataclass
class ConfigurationRecord:
    """What the planner saw for one configuration, for ``--explain``."""

    configuration: str
    spacing: list[float]
    median_shape: list[float]
    approximate_n_voxels_dataset: float
    smallest_patch_estimated: list[int] | None = None
    smallest_patch_estimate: float = 0.0


@dataclass(frozen=True)
class MemoryEstimate:
    """nnU-Net's estimate for a plain U-Net and the plugin's measured ratio to it."""

    feature_map_elements: float
    memory_ratio: float

    @property
    def value(self) -> float:
        return self.feature_map_elements * self.memory_ratio


class ArchitecturePlanner(ExperimentPlanner):
    """nnunetv2's ExperimentPlanner for one architecture plugin. Construct it inside
    :func:`covplan.nnunet_paths.nnunet_dataset_view` with the fingerprint already there."""

    def __init__(self, dataset_name: str, plugin: ArchitecturePlugin, gpu_memory_gb: float, plans_name: str,
                 preset: Preset | None = None, configurations: Sequence[str] = ("2d", "3d_fullres", "3d_lowres"),
                 memory_cache: dict[str, int] | None = None):
        """``configurations``: those that will be kept; the others are planned as nnU-Net
        does without measuring the plugin, and 3d_lowres's search is skipped. Planners of
        one dataset may share ``memory_cache`` (measured bytes by plugin, patch and topology)."""
        # nnU-Net's overwrite applies to the 3D full-resolution spacing; a 2D preset's
        # in-plane spacing is set in _apply_preset.
        spacing = ([float(s) for s in preset.target_spacing]
                   if preset is not None and len(preset.target_spacing) == 3 else None)
        super().__init__(dataset_name, gpu_memory_target_in_gb=gpu_memory_gb, plans_name=plans_name,
                         overwrite_target_spacing=spacing)
        self.plugin = plugin
        self.preset = preset
        self.UNet_base_num_features = plugin.base_num_features
        if plugin.max_num_features is not None:
            self.UNet_max_features_2d = self.UNet_max_features_3d = plugin.max_num_features
        self.configurations = tuple(configurations)
        if "3d_lowres" not in self.configurations:
            self.lowres_creation_threshold = 0.0
        self.memory_cache = {} if memory_cache is None else memory_cache
        self.records: dict[str, ConfigurationRecord] = {}
        self._record = ConfigurationRecord("", [], [], 0.0)
        self.estimates: dict[str, MemoryEstimate] = {}

    @staticmethod
    def estimate_key(patch_size, strides) -> str:
        return f"{[int(p) for p in patch_size]}_{[[int(s) for s in stride] for stride in strides]}"

    def base_reference_value(self, num_dims: int) -> float:
        """nnU-Net's memory budget at its 8 GB reference: feature-map elements per sample
        at the reference batch size."""
        return self.UNet_reference_val_2d if num_dims == 2 else self.UNet_reference_val_3d

    def reference_value(self, num_dims: int) -> float:
        """nnU-Net's memory budget scaled to the memory target."""
        return self.base_reference_value(num_dims) * self.UNet_vram_target_GB / self.UNet_reference_val_corresp_GB

    def gpu_memory_needed_gb(self, estimate: float, num_dims: int) -> float:
        """The smallest memory target at which ``estimate`` fits at batch size 2."""
        return (self.UNet_reference_val_corresp_GB * estimate * MIN_BATCH_SIZE
                / self.reference_batch_size(num_dims) / self.base_reference_value(num_dims))

    def reference_batch_size(self, num_dims: int) -> int:
        return self.UNet_reference_val_corresp_bs_2d if num_dims == 2 else self.UNet_reference_val_corresp_bs_3d

    def get_plans_for_configuration(self, spacing, median_shape, data_identifier: str,
                                    approximate_n_voxels_dataset: float, _cache: dict) -> dict:
        configuration = data_identifier[len(self.plans_identifier) + 1:]
        self._record = ConfigurationRecord(configuration, [float(s) for s in spacing],
                                           [float(s) for s in median_shape[:len(spacing)]],
                                           float(approximate_n_voxels_dataset))
        plan = super().get_plans_for_configuration(spacing, median_shape, data_identifier,
                                                   approximate_n_voxels_dataset, _cache)
        if self.preset is not None and configuration in self.preset.configurations:
            plan = self._apply_preset(plan)
        self.records[configuration] = self._record
        return plan

    def static_estimate_VRAM_usage(self, patch_size, input_channels: int, output_channels: int,
                                   arch_class_name: str, arch_kwargs: dict, arch_kwargs_req_import) -> float:
        """nnU-Net's estimate (feature-map elements of a plain U-Net of this topology),
        scaled by how much more or less memory the plugin's network needs than plain_unet."""
        record = self._record
        patch_size = [int(p) for p in patch_size]
        # nnU-Net's loop would shrink the patch to nothing; stop at its smallest edge length.
        if any(p < min(self.UNet_featuremap_min_edge_length, median)
               for p, median in zip(patch_size, record.median_shape)):
            self._raise_memory_target_too_small(len(patch_size))
        estimate = self.estimate(patch_size, arch_kwargs, input_channels, output_channels)
        record.smallest_patch_estimated = patch_size
        record.smallest_patch_estimate = estimate.value
        return estimate.value

    def estimate(self, patch_size, arch_kwargs: dict, input_channels: int, output_channels: int) -> MemoryEstimate:
        """The memory estimate of a patch size and topology, computed once per planner."""
        key = self.estimate_key(patch_size, arch_kwargs["strides"])
        if key not in self.estimates:
            feature_map_elements = ExperimentPlanner.static_estimate_VRAM_usage(
                [int(p) for p in patch_size], input_channels, output_channels, PLAIN_CONV_UNET, arch_kwargs,
                CLASS_KWARGS)
            self.estimates[key] = MemoryEstimate(
                feature_map_elements, self._memory_ratio(patch_size, arch_kwargs, input_channels, output_channels))
        return self.estimates[key]

    def _memory_ratio(self, patch_size: list[int], arch_kwargs: dict, input_channels: int,
                      output_channels: int) -> float:
        if (self.plugin_is_reference or len(patch_size) not in self.plugin.dims
                or self._record.configuration not in self.configurations):
            return 1.0  # configurations that will be dropped are planned as nnU-Net does
        return (self.measured_bytes(self.plugin, patch_size, arch_kwargs, input_channels, output_channels)
                / self.measured_bytes(PlainUNet(), patch_size, arch_kwargs, input_channels, output_channels))

    @property
    def plugin_is_reference(self) -> bool:
        """The plugin is plain_unet itself: nnU-Net's estimate applies unscaled, nothing is measured."""
        return isinstance(self.plugin, PlainUNet)

    def topology_plan(self, patch_size: list[int], arch_kwargs: dict) -> dict[str, Any]:
        """The configuration a plugin's ``estimate_memory`` sees while the planner searches."""
        return {"patch_size": [int(p) for p in patch_size], "spacing": self._record.spacing,
                "batch_size": MIN_BATCH_SIZE,
                "architecture": {"network_class_name": PLAIN_CONV_UNET, "arch_kwargs": dict(arch_kwargs),
                                 "_kw_requires_import": list(CLASS_KWARGS)}}

    def measured_bytes(self, plugin: ArchitecturePlugin, patch_size, arch_kwargs: dict, input_channels: int,
                       output_channels: int) -> int:
        """Bytes of one training step of ``plugin``'s network at batch size 2 (its
        ``estimate_memory``), measured once per plugin, patch and topology."""
        plan = self.topology_plan(patch_size, arch_kwargs)
        key = json.dumps([plugin.name, plan["patch_size"], plan["spacing"], arch_kwargs, input_channels,
                          output_channels], default=str)
        if key not in self.memory_cache:
            self.memory_cache[key] = plugin.estimate_memory(plan, input_channels, output_channels,
                                                            batch_size=MIN_BATCH_SIZE)
        return self.memory_cache[key]

    def _raise_memory_target_too_small(self, num_dims: int) -> None:
        record = self._record
        smallest = record.smallest_patch_estimated or [self.UNet_featuremap_min_edge_length] * num_dims
        needed_gb = self.gpu_memory_needed_gb(record.smallest_patch_estimate, num_dims)
        raise MemoryTargetTooSmall(
            f"a memory target of {self.UNet_vram_target_GB:g} GB is too small for '{self.plugin.name}' "
            f"({num_dims}D): even the smallest patch {'x'.join(map(str, smallest))} at batch size "
            f"{MIN_BATCH_SIZE} needs about {needed_gb:.3g} GB; use --gpu-memory {np.ceil(needed_gb * 100) / 100:g} "
            f"or more")

    def _apply_preset(self, plan: dict) -> dict:
        """Fix patch, batch and normalisation to the preset's; the topology follows
        nnU-Net's rules for that patch and spacing."""
        preset = self.preset
        if len(preset.target_spacing) == len(plan["spacing"]):
            plan["spacing"] = np.array(preset.target_spacing, dtype=float)  # nnU-Net computes with arrays
        _, strides, kernel_sizes, patch_size, _ = get_pool_and_conv_props(
            plan["spacing"], preset.patch_size, self.UNet_featuremap_min_edge_length, 999999)
        if [int(p) for p in patch_size] != list(preset.patch_size):
            raise CovplanError(f"preset '{preset.name}' patch {preset.patch_size} is not divisible by the "
                               f"network's down-sampling; nnU-Net's topology rules would need {list(patch_size)}")
        num_stages = len(strides)
        arch_kwargs = plan["architecture"]["arch_kwargs"]
        max_features = self.UNet_max_features_2d if len(patch_size) == 2 else self.UNet_max_features_3d
        arch_kwargs.update({
            "n_stages": num_stages, "kernel_sizes": kernel_sizes, "strides": strides,
            "features_per_stage": [min(max_features, self.UNet_base_num_features * 2**i) for i in range(num_stages)],
            "n_conv_per_stage": self.UNet_blocks_per_stage_encoder[:num_stages],
            "n_conv_per_stage_decoder": self.UNet_blocks_per_stage_decoder[:num_stages - 1],
        })
        num_channels = len(plan["normalization_schemes"])
        plan.update(patch_size=list(preset.patch_size), batch_size=preset.batch_size,
                    normalization_schemes=[preset.normalization_scheme] * num_channels,
                    use_mask_for_norm=[preset.use_mask_for_norm] * num_channels)
        return plan
