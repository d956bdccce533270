"""Why the planner chose each value of a configuration, in words (``covplan plan --explain``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from covplan.planning.budget_candidates import is_candidate
from covplan.planning.planner import GIB, MIN_BATCH_SIZE, ArchitecturePlanner
from covplan.planning.presets import Preset

NORMALIZATION_REASONS = {
    "CTNormalization": "channel named CT: clip to the foreground's 0.5/99.5 percentiles, then z-score with the "
                       "foreground mean and std of the whole dataset",
    "ZScoreNormalization": "z-score per image",
    "NoNormalization": "no normalisation",
    "RescaleTo01Normalization": "rescale to 0..1",
    "RGBTo01Normalization": "RGB values / 255",
}


def explain_configuration(planner: ArchitecturePlanner, configuration: str, plan: dict[str, Any],
                          fingerprint: dict[str, Any], preset: Preset | None) -> list[str]:
    """One line per decision of ``plan`` (a configuration of the plans)."""
    if "inherits_from" in plan:
        return [f"inherits everything from {plan['inherits_from']}; its input adds the predictions of "
                f"{plan['previous_stage']} (nnU-Net's cascade)"]
    record = planner.records[configuration]
    num_dims = len(plan["patch_size"])
    preset_applies = preset is not None and configuration in preset.configurations
    lines = [f"median image after resampling: {_shape(record.median_shape)} voxels "
             f"({planner.dataset_json['numTraining']} training cases)",
             f"spacing {_shape(plan['spacing'], '.3g')} mm: " + _spacing_reason(configuration, plan, fingerprint,
                                                                                  preset_applies)]
    lines += _memory_lines(planner, plan, record, num_dims, preset_applies)
    arch_kwargs = plan["architecture"]["arch_kwargs"]
    lines.append(f"topology: {arch_kwargs['n_stages']} stages, strides {_strides(arch_kwargs['strides'])}, "
                 f"features {list(arch_kwargs['features_per_stage'])} (nnU-Net's rules: pool while an axis is "
                 f">= {2 * planner.UNet_featuremap_min_edge_length} voxels; features from "
                 f"{planner.UNet_base_num_features}, doubling, capped at "
                 f"{planner.UNet_max_features_2d if num_dims == 2 else planner.UNet_max_features_3d})")
    channel_names = list(planner.dataset_json.get("channel_names", planner.dataset_json.get("modality", {})).values())
    for channel, scheme in enumerate(plan["normalization_schemes"]):
        reason = f"preset {preset.name}" if preset_applies else NORMALIZATION_REASONS.get(scheme, "nnU-Net's default")
        mask = ", inside the non-zero mask" if plan["use_mask_for_norm"][channel] else ""
        lines.append(f"normalisation of channel {channel} ({channel_names[channel]}): {scheme}{mask}: {reason}")
    return lines


def _memory_lines(planner: ArchitecturePlanner, plan: dict[str, Any], record, num_dims: int,
                  preset_applies: bool) -> list[str]:
    input_channels = len(plan["normalization_schemes"])
    num_classes = len(planner.dataset_json["labels"])
    arch_kwargs = plan["architecture"]["arch_kwargs"]
    estimate = planner.estimate(plan["patch_size"], arch_kwargs, input_channels, num_classes)
    reference = planner.reference_value(num_dims)
    reference_batch = planner.reference_batch_size(num_dims)
    patch_voxels = float(np.prod(plan["patch_size"], dtype=np.float64))
    memory_batch = round(reference / estimate.value * reference_batch)
    capped_batch = round(record.approximate_n_voxels_dataset * planner.max_dataset_covered / patch_voxels)
    if planner.plugin_is_reference:
        scaling = f"'{planner.plugin.name}' is nnU-Net's own plain U-Net: its estimate unscaled"
    else:  # measured while planning (a cache hit), unless a preset fixed the patch
        plugin_bytes = planner.measured_bytes(planner.plugin, plan["patch_size"], arch_kwargs, input_channels,
                                              num_classes)
        scaling = (f"'{planner.plugin.name}' measured vs plain_unet; {plugin_bytes / GIB:.2f} GiB per training "
                   f"step at batch {MIN_BATCH_SIZE}")
    needed = planner.gpu_memory_needed_gb(estimate.value, num_dims)
    patch_reason = (f"preset {planner.preset.name}" if preset_applies else
                    "the median image's aspect ratio at most its size, shrunk along the relatively largest axis "
                    "until the memory estimate fits")
    batch_reason = (f"preset {planner.preset.name}" if preset_applies else
                    f"memory allows {memory_batch}, nnU-Net's cap of {planner.max_dataset_covered:.0%} of the "
                    f"dataset's voxels per step allows {capped_batch}, at least {MIN_BATCH_SIZE}")
    return [
        f"patch size {_shape(plan['patch_size'])}: {patch_reason}",
        f"memory: estimate {estimate.value:.3g} = plain U-Net feature maps {estimate.feature_map_elements:.3g} x "
        f"{estimate.memory_ratio:.2f} ({scaling}) against target "
        f"{reference:.3g} per sample at batch {reference_batch} ({planner.UNet_vram_target_GB:g} GB x nnU-Net's "
        f"{planner.base_reference_value(num_dims):.3g} per {planner.UNet_reference_val_corresp_GB} GB); "
        f"this patch fits from {needed:.2f} GB",
        f"batch size {plan['batch_size']}: {batch_reason}",
    ]


def _spacing_reason(configuration: str, plan: dict[str, Any], fingerprint: dict[str, Any],
                    preset_applies: bool) -> str:
    if preset_applies:
        return "fixed by the preset"
    if is_candidate(configuration):
        return "the main configuration's spacing, coarsened along its finer axes (a time-budget candidate)"
    if configuration == "3d_lowres":
        return "3d_fullres spacing coarsened in 3 % steps until the patch covers 25 % of the median image"
    spacings = np.array(fingerprint["spacings"], dtype=float)
    median = np.median(spacings, axis=0)
    if configuration == "2d":
        return "the in-plane axes of the full-resolution target spacing (median spacing of the training cases)"
    if np.allclose(sorted(plan["spacing"]), sorted(median), rtol=1e-4):
        return "median spacing of the training cases"
    return ("median in-plane spacing; along the anisotropic axis the 10th percentile (nnU-Net's anisotropy rule: "
            "spacing and voxel count differ more than 3x)")


def _shape(values, number_format: str = "g") -> str:
    return " x ".join(format(float(value), number_format) for value in values)


def _strides(strides) -> str:
    return " ".join("x".join(str(int(s)) for s in stride) for stride in strides)
