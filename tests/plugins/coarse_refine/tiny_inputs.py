"""Plans and phantoms for the coarse-refine plugin's tests, at the reduced test width."""

from __future__ import annotations

import torch

from tests.work_folders import TEST_BASE_WIDTH


def coarse_refine_plan(patch_size=(64, 64), base_width: int = TEST_BASE_WIDTH) -> dict:
    """A 2D plans configuration with the reduced test width."""
    return {"patch_size": list(patch_size), "batch_size": 2, "spacing": [1.0, 1.0],
            "architecture": {"network_class_name": "ignored", "_kw_requires_import": [],
                             "arch_kwargs": {"features_per_stage": [base_width * 2**i for i in range(4)]}}}


def lesion_phantom() -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy slices ``(2, 1, 64, 64)`` with two lesion types told apart by their
    intensity (a bright disc = 1, a dimmer square = 2) and their label maps; the second
    slice has only the square."""
    size = 64
    generator = torch.Generator().manual_seed(0)
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = torch.zeros(2, 1, size, size, dtype=torch.long)
    disc = (rows - size * 0.3) ** 2 + (cols - size * 0.35) ** 2 < (size * 0.15) ** 2
    labels[0, 0][disc] = 1
    labels[0, 0, size // 2:size // 2 + size // 5, size // 2:size // 2 + size // 4] = 2
    labels[1, 0, size // 6:size // 6 + size // 3, size // 3:size // 3 + size // 5] = 2
    intensity = torch.tensor([0.0, 1.0, 0.5])
    images = intensity[labels] + 0.1 * torch.randn(labels.shape, generator=generator)
    return images, labels
