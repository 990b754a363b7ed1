"""Everything that touches `torch.distributed`, so the loop reads the same for 1 or N processes.

Under `torchrun` (RANK/WORLD_SIZE/LOCAL_RANK in the environment) a process group is created:
`nccl` when the processes use CUDA, `gloo` on CPU. Without it every helper is a cheap no-op.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from atomlm.training.config import ConfigError


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto", timeout_minutes: float = 60.0) -> DistributedContext:
    """Join the torchrun process group if there is one; choose this process's device.

    `timeout_minutes` bounds every collective, including the barrier where other ranks wait
    while rank 0 builds the token shards on first use.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world_size, timeout=timedelta(minutes=timeout_minutes)
        )
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def shutdown(context: DistributedContext) -> None:
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.is_distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum `tensor` over all processes in place (and return it)."""
    if context.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def max_over_ranks(values: tuple[int, ...], context: DistributedContext) -> tuple[int, ...]:
    """Each of `values`' largest value over all processes, known to every process: one
    collective for several decisions (e.g. whether any rank received a stop signal, so all ranks
    stop after the same step)."""
    if not context.is_distributed:
        return tuple(values)
    tensor = torch.tensor(values, dtype=torch.int64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(int(value) for value in tensor.tolist())


def wrap_model(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """DistributedDataParallel around `model` when there are several processes."""
    if not context.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def gradient_sync(model: torch.nn.Module, sync: bool):
    """Context for one micro-step: gradients all-reduce only on the last micro-step of a step."""
    if sync or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()
