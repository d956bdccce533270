"""Plans and phantoms for the coarse-refine plugin's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

# The paper's width 64 is too slow for tests on two CPU cores; width 8 keeps every stage,
# block, ASPP branch and refinement stage of the design.
TEST_BASE_WIDTH = 8


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run these tiny networks on one thread: on a shared two-core machine a second
    OpenMP thread waits for a busy core and makes each step several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_plan() -> Callable[..., dict]:
    """A 2D plans configuration with the reduced test width."""

    def make(patch_size=(64, 64), base_width: int = TEST_BASE_WIDTH) -> dict:
        return {"patch_size": list(patch_size), "batch_size": 2, "spacing": [1.0, 1.0],
                "architecture": {"network_class_name": "ignored", "_kw_requires_import": [],
                                 "arch_kwargs": {"features_per_stage": [base_width * 2**i for i in range(4)]}}}

    return make


@pytest.fixture(scope="module")
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
