"""Checkpoints written atomically, and the random-number state that makes a resumed run
continue exactly where it stopped."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from covplan.errors import CovplanError

CHECKPOINT_FORMAT_VERSION = 1


def save_checkpoint_atomically(checkpoint: dict[str, Any], path: Path) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path``: a kill
    while saving leaves the previous checkpoint whole."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by covplan's trainer; a missing or unreadable file raises a
    :class:`CovplanError` naming it."""
    if not path.is_file():
        raise CovplanError(f"checkpoint {path} not found; train this fold first (`covplan train`)")
    try:
        # Checkpoints hold plans, numpy RNG states and logs besides tensors.
        checkpoint = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:
        raise CovplanError(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); "
                           f"train again without --resume") from error
    if not isinstance(checkpoint, dict) or "covplan" not in checkpoint:
        raise CovplanError(f"{path} is not a covplan checkpoint")
    return checkpoint


def capture_rng_state() -> dict[str, Any]:
    """Every generator training draws from: Python's, numpy's global one (nnU-Net's data
    loader and batchgenerators use it), torch's CPU and CUDA generators."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
