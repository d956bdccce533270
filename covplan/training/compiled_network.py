"""``torch.compile`` where it pays, and never at the price of a run.

nnU-Net compiles its network by default on CUDA and never on CPU (its ``_do_i_compile``:
"CPU compile crashes for 2D models"); covplan's default (``compile=None``) is the same, so
that on a GPU covplan is not slower than nnU-Net by default. ``--compile`` compiles on any
device, ``--no-compile`` never. With a time budget the throughput probe
(:mod:`covplan.training.probe`) times the network both ways and
:func:`covplan.planning.schedule.fit_schedule_choosing_compile` keeps the compiled one only
when its faster steps win back the compile time within the budget.

``torch.compile`` compiles at the first call, so a plugin's network that cannot be compiled
fails there, not when it is wrapped: :class:`CompiledNetwork` then trains it as it is,
after one warning naming the architecture.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

# torch.compile's own default; tests swap in a cheaper one.
COMPILE_BACKEND = "inductor"


def compile_by_default(device: torch.device) -> bool:
    """Whether ``compile=None`` (the default) compiles on ``device``: on CUDA, as nnU-Net does."""
    return device.type == "cuda"


def should_compile(setting: bool | None, device: torch.device) -> bool:
    """The ``--compile/--no-compile`` setting resolved for ``device``."""
    return compile_by_default(device) if setting is None else setting


class CompiledNetwork(nn.Module):
    """``network`` compiled with ``torch.compile``, or ``network`` itself (one warning naming
    ``architecture``) when compiling it fails, at wrapping or at its first call."""

    def __init__(self, network: nn.Module, architecture: str):
        super().__init__()
        self.network, self.architecture = network, architecture
        self.compiled: nn.Module | None = None
        self.proven = False  # a first call went through the compiled network
        try:
            self.compiled = torch.compile(network, backend=COMPILE_BACKEND)
        except Exception as error:  # torch raises many types; any of them means "train it eager"
            self._fall_back(error)

    @property
    def is_compiled(self) -> bool:
        return self.compiled is not None

    def forward(self, *args, **kwargs):
        if self.compiled is None:
            return self.network(*args, **kwargs)
        if self.proven:
            return self.compiled(*args, **kwargs)
        try:
            output = self.compiled(*args, **kwargs)
        except Exception as error:  # a genuine error in the network is raised again by its eager call below
            self._fall_back(error)
            return self.network(*args, **kwargs)
        self.proven = True
        return output

    def _fall_back(self, error: Exception) -> None:
        self.compiled = None
        first_line = (str(error).strip().splitlines() or [""])[0]
        logger.warning("architecture '%s': its network does not compile with torch.compile (%s: %s); training it "
                       "without compiling (--no-compile silences this)", self.architecture, type(error).__name__,
                       first_line[:200])
