"""Training and validation batches: nnU-Net's dataset classes and data loader (with
foreground oversampling) on the preprocessed cases, batchgeneratorsv2 augmentation, and
batchgenerators' background workers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from covplan.errors import CovplanError
from covplan.training.inputs import TrainingInputs
from covplan.training.worker_loader import WorkerDataLoader

# nnunet: nnU-Net's default pipeline (nnUNetTrainer.get_training_transforms).
# p015: method A's pipeline: mirroring, elastic deformation, rotation, scaling, brightness,
#   contrast, gamma and Gaussian noise, each with probability 0.15.
# rot_flip: method C's rotations by 90/180/270 degrees and horizontal flips, in plane.
AUGMENTATIONS = ("nnunet", "p015", "rot_flip")


@dataclass(frozen=True)
class Augmentation:
    """The batchgeneratorsv2 pipelines of one run and what they imply."""

    training_transforms: Any
    validation_transforms: Any
    loader_patch_size: tuple[int, ...]  # larger than the patch where rotations need room
    mirror_axes: tuple[int, ...]  # also the test-time mirroring axes


def deep_supervision_scales(patch_size: Sequence[int], output_shapes: Sequence[Sequence[int]]) -> list[list[float]] | None:
    """Scale of each network output relative to the patch, the form nnU-Net's
    DownsampleSegForDSTransform takes; None for a network with a single output."""
    if len(output_shapes) == 1:
        return None
    return [[size / patch for size, patch in zip(shape, patch_size)] for shape in output_shapes]


def nnunet_augmentation(inputs: TrainingInputs, ds_scales: list | None) -> Augmentation:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    configuration = inputs.configuration_manager
    # nnU-Net derives rotation range, dummy-2D augmentation and the enlarged loader patch only
    # in this nnUNetTrainer instance method (no public function exists); it reads nothing but
    # configuration_manager, so it is called with just that instead of copying its rules.
    trainer_view = SimpleNamespace(configuration_manager=configuration, print_to_log_file=lambda *args, **kwargs: None)
    rotation, dummy_2d, loader_patch_size, mirror_axes = \
        nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size(trainer_view)
    labels = inputs.label_manager
    regions = labels.foreground_regions if labels.has_regions else None
    # A cascade's second stage: the first stage's segmentation becomes one-hot input
    # channels, randomly eroded, dilated and stripped of components in training (nnU-Net's).
    cascaded = inputs.previous_stage is not None
    training = nnUNetTrainer.get_training_transforms(
        configuration.patch_size, rotation, ds_scales, mirror_axes, dummy_2d,
        use_mask_for_norm=configuration.use_mask_for_norm, is_cascaded=cascaded,
        foreground_labels=labels.foreground_labels, regions=regions, ignore_label=labels.ignore_label)
    validation = nnUNetTrainer.get_validation_transforms(
        ds_scales, is_cascaded=cascaded, foreground_labels=labels.foreground_labels, regions=regions,
        ignore_label=labels.ignore_label)
    return Augmentation(training, validation, tuple(int(s) for s in loader_patch_size), tuple(mirror_axes))


def _finish_pipeline(transforms: list, ds_scales: list | None, inputs: TrainingInputs):
    """nnU-Net's tail of every pipeline: border padding (-1) back to background, a
    cascade's first-stage segmentation moved into the input as one-hot channels, with
    regions one binary map per region (and one for the ignore label), then one target per
    network output."""
    from batchgeneratorsv2.transforms.nnunet.seg_to_onehot import MoveSegAsOneHotToDataTransform
    from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
    from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform
    from batchgeneratorsv2.transforms.utils.remove_label import RemoveLabelTansform
    from batchgeneratorsv2.transforms.utils.seg_to_regions import ConvertSegmentationToRegionsTransform

    transforms = [*transforms, RemoveLabelTansform(-1, 0)]
    labels = inputs.label_manager
    if inputs.previous_stage is not None:
        # Covplan leaves out nnU-Net's random corruption of those channels here: the paper
        # pipelines' augmentations are the papers' own.
        transforms.append(MoveSegAsOneHotToDataTransform(source_channel_idx=1, all_labels=labels.foreground_labels,
                                                         remove_channel_from_source=True))
    if labels.has_regions:  # as nnUNetTrainer.get_training_transforms converts them
        ignore = [labels.ignore_label] if labels.has_ignore_label else []
        transforms.append(ConvertSegmentationToRegionsTransform(list(labels.foreground_regions) + ignore,
                                                                channel_in_seg=0))
    if ds_scales is not None:
        transforms.append(DownsampleSegForDSTransform(ds_scales=ds_scales))
    return ComposeTransforms(transforms)


def _spatial_transform(patch_size: Sequence[int], rotation: float, probability: float):
    """Crops the loader's patch to the network's, rotating, scaling and deforming with
    ``probability`` each (0: a plain centre crop)."""
    from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform

    return SpatialTransform(
        list(patch_size), patch_center_dist_from_border=0, random_crop=False, p_elastic_deform=probability,
        p_rotation=probability, rotation=(-rotation, rotation), p_scaling=probability, scaling=(0.85, 1.25),
        p_synchronize_scaling_across_axes=1, border_mode_seg="constant", padding_value_seg=-1)


def paper_augmentation(inputs: TrainingInputs, ds_scales: list | None, probability: float = 0.15) -> Augmentation:
    from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
    from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform
    from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
    from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
    from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
    from batchgeneratorsv2.transforms.utils.random import RandomTransform
    from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size

    patch_size = tuple(inputs.configuration_manager.patch_size)
    rotation = 15 / 180 * np.pi  # the paper gives no range; nnU-Net's 2D range for elongated patches
    loader_patch_size = tuple(int(s) for s in get_patch_size(patch_size, *[(-rotation, rotation)] * 3, (0.85, 1.25)))
    mirror_axes = tuple(range(len(patch_size)))
    training = [
        _spatial_transform(patch_size, rotation, probability),
        RandomTransform(MirrorTransform(allowed_axes=mirror_axes), apply_probability=probability),
        RandomTransform(MultiplicativeBrightnessTransform(BGContrast((0.75, 1.25)), synchronize_channels=False,
                                                          p_per_channel=1), apply_probability=probability),
        RandomTransform(ContrastTransform(BGContrast((0.75, 1.25)), preserve_range=True, synchronize_channels=False,
                                          p_per_channel=1), apply_probability=probability),
        RandomTransform(GammaTransform(BGContrast((0.7, 1.5)), p_invert_image=0, synchronize_channels=False,
                                       p_per_channel=1, p_retain_stats=1), apply_probability=probability),
        RandomTransform(GaussianNoiseTransform(noise_variance=(0, 0.1), p_per_channel=1, synchronize_channels=True),
                        apply_probability=probability),
    ]
    return Augmentation(_finish_pipeline(training, ds_scales, inputs), _finish_pipeline([], ds_scales, inputs),
                        loader_patch_size, mirror_axes)


def rot_flip_augmentation(inputs: TrainingInputs, ds_scales: list | None) -> Augmentation:
    from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
    from batchgeneratorsv2.transforms.spatial.rot90 import Rot90Transform
    from batchgeneratorsv2.transforms.utils.random import RandomTransform

    patch_size = tuple(inputs.configuration_manager.patch_size)
    in_plane = (len(patch_size) - 2, len(patch_size) - 1)
    # Quarter turns of a non-square patch would change its shape: half turns only then.
    turns = (1, 2, 3) if patch_size[-1] == patch_size[-2] else (2,)
    # Covplan draws the paper's five variants (identity, three turns, a flip) as independent
    # turns and flips, i.e. every symmetry of the square equally often.
    training = [
        _spatial_transform(patch_size, 0.0, 0.0),
        RandomTransform(Rot90Transform(1, turns, allowed_axes=set(in_plane)), apply_probability=len(turns) / (len(turns) + 1)),
        MirrorTransform(allowed_axes=(in_plane[1],)),
    ]
    return Augmentation(_finish_pipeline(training, ds_scales, inputs), _finish_pipeline([], ds_scales, inputs),
                        patch_size, (in_plane[1],))


def build_augmentation(name: str, inputs: TrainingInputs, ds_scales: list | None) -> Augmentation:
    """The augmentation pipeline called ``name`` (one of :data:`AUGMENTATIONS`)."""
    builders = {"nnunet": nnunet_augmentation, "p015": paper_augmentation, "rot_flip": rot_flip_augmentation}
    if name not in builders:
        raise CovplanError(f"unknown augmentation '{name}'; known: {', '.join(AUGMENTATIONS)}")
    return builders[name](inputs, ds_scales)


def default_num_workers() -> int:
    """nnU-Net's number of augmentation processes (``nnUNet_n_proc_DA``), at most the
    machine's cores less one for the training loop."""
    from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

    return max(0, min(get_allowed_n_proc_DA(), (os.cpu_count() or 1) - 1))


def build_batch_generators(inputs: TrainingInputs, train_ids: list[str], val_ids: list[str],
                           augmentation: Augmentation, batch_size: int, oversample_foreground_percent: float,
                           num_workers: int, seed: int, pin_memory: bool):
    """Endless training and validation batch generators. ``num_workers=0`` loads in the
    training process (reproducible to the bit); otherwise background processes prepare
    batches while the network trains, and end with the training process however it ends
    (:mod:`covplan.training.worker_loader`)."""
    from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
    from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    folder = str(inputs.preprocessed_folder)
    dataset_class = infer_dataset_class(folder)
    patch_size = tuple(inputs.configuration_manager.patch_size)
    # nnU-Net's loader puts a cascade's first-stage segmentation beside the labels.
    previous_stage = str(inputs.previous_stage_predictions) if inputs.previous_stage is not None else None
    generators = []
    for identifiers, loader_patch, transforms, share in (
            (train_ids, augmentation.loader_patch_size, augmentation.training_transforms, 1.0),
            (val_ids, patch_size, augmentation.validation_transforms, 0.5)):
        loader = WorkerDataLoader(dataset_class(folder, identifiers, previous_stage), batch_size, loader_patch,
                                  patch_size, inputs.label_manager,
                                  oversample_foreground_percent=oversample_foreground_percent, transforms=transforms)
        processes = max(1, round(num_workers * share))
        if num_workers == 0:
            generators.append(SingleThreadedAugmenter(loader, None))
        else:
            generators.append(NonDetMultiThreadedAugmenter(
                loader, None, processes, num_cached=max(3, processes), seeds=[seed + i for i in range(processes)],
                pin_memory=pin_memory, wait_time=0.002))
    return tuple(generators)


def stop_batch_generators(*generators: Any) -> None:
    """Stop the background workers of batch generators that have them."""
    for batches in generators:
        # batchgenerators' augmenters have no public way to stop their workers other than
        # being garbage-collected (__del__ calls _finish); nnU-Net's trainer calls
        # _finish() for the same reason, so that a run ends with its workers gone.
        if hasattr(batches, "_finish"):
            batches._finish()
