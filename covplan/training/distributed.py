"""Distributed data parallel through ``torchrun``: one process per device, rank 0 writes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from covplan.errors import CovplanError


@dataclass(frozen=True)
class ProcessGroup:
    rank: int
    local_rank: int
    world_size: int

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_process_group(device_type: str) -> ProcessGroup:
    """The process group torchrun described in the environment (NCCL on CUDA, gloo on
    CPU); a single process when started without torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return ProcessGroup(0, 0, 1)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return ProcessGroup(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world_size)


def sum_over_processes(values: torch.Tensor, group: ProcessGroup, device: torch.device) -> torch.Tensor:
    """Element-wise sum over all processes (the values themselves without DDP), on the
    CPU. The reduction runs on ``device``: NCCL reduces only CUDA tensors."""
    if group.is_distributed:
        values = values.to(device, copy=True)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def main_process_values(values: list[int], group: ProcessGroup, device: torch.device) -> list[int]:
    """The first process's ``values`` in every process: decisions taken from each
    process's own timing must agree, or the processes would wait on each other forever."""
    if not group.is_distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return [int(value) for value in tensor.cpu()]


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU; under torchrun each process its own GPU
    (``LOCAL_RANK``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise CovplanError("--device cuda was asked for, but torch finds no CUDA device; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


def leave_process_group() -> None:
    """Tear down the process group torchrun's processes joined, if any."""
    if dist.is_initialized():
        dist.destroy_process_group()
