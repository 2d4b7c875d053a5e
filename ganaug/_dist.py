"""torch.distributed for ``torchrun``: one process-group setup for training and export.

gloo on CPU, NCCL on GPU. A process started by ``torchrun`` (``WORLD_SIZE`` > 1 in its
environment) joins the group the first time training or export asks; a group the caller made
itself is used as it is. One process: no group at all.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Dist", "init_dist", "close_dist", "wrap", "unwrap"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the group: ``rank`` of ``world``, and its GPU (``local_rank``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum a small tensor over ranks in place (a no-op for one process). NCCL needs it on
        the GPU."""
        if self.active:
            torch.distributed.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def init_dist(device: torch.device) -> Dist:
    """Join the process group torchrun describes in the environment (one process: no group)."""
    dist = torch.distributed
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), local)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist()
    if device.type == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local)


def close_dist() -> None:
    """Leave the process group if this process joined one (no torch import if it never did)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``module`` when several processes train."""
    if not dist.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)
