"""Device-independent estimate of the memory a training step needs."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

# Weights, gradients and two optimiser states per parameter (Adam's worst case).
PARAMETER_COPIES = 4
# The in-place methods torch.nn.init fills weights with.
INITIALISERS = frozenset({torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_,
                          torch.Tensor.random_, torch.Tensor.exponential_})


class _SkipInitialisationOnMeta(TorchFunctionMode):
    """Returns a meta tensor unchanged from an initialiser: a meta tensor holds no values,
    and torch's meta kernel for ``normal_`` imports ``torch._dynamo`` on first use (1.5 s
    of CPU), which building a network only to count its parameters need not pay."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in INITIALISERS and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def on_meta_device() -> Iterator[None]:
    """Build modules on the meta device: shapes only, no memory, no initialisation."""
    with torch.device("meta"), _SkipInitialisationOnMeta():
        yield


def measure_training_memory(network: nn.Module, input_shape: Sequence[int]) -> int:
    """Bytes for one forward/backward pass of ``network`` on a float32 batch of
    ``input_shape``: every tensor autograd keeps for the backward pass, plus the
    parameters with their gradients and optimiser state.

    Counting saved tensors on the meta device gives the same figure on a CPU-only
    machine as on a GPU, without allocating the activations.
    """
    parameter_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
    meta_network = copy.deepcopy(network).to("meta").train()
    # Weights saved for the backward pass are counted with the parameters already, and a
    # tensor saved by several operations is counted once.
    seen: set[int] = {id(p) for p in meta_network.parameters()}
    saved_bytes = 0

    def count(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved_bytes
        if id(tensor) not in seen:
            seen.add(id(tensor))
            saved_bytes += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
        meta_network(torch.empty(*input_shape, device="meta", requires_grad=False))
    return saved_bytes + PARAMETER_COPIES * parameter_bytes

