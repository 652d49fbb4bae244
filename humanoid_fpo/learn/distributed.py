"""Data-parallel training over torchrun ranks (DESIGN.md, "Scale"): one env and one learner per rank
on the rank's own device; what must agree is averaged over ranks (gradients, normaliser and
advantage statistics, the adaptive lr's divergence, clip failure rates, episode counts) so that
every rank's weights stay identical. Without torchrun (one process) every function is the
identity and costs nothing.

    ranks = distributed.init()                   # reads torchrun's RANK, WORLD_SIZE, LOCAL_RANK
    loss.backward(); distributed.average_gradients(params); optimizer.step()
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run folder, logs and evaluates."""
        return self.rank == 0


def from_environment() -> Ranks:
    """The ranks torchrun describes in the environment (one process: Ranks())."""
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)),
                 int(env.get("LOCAL_WORLD_SIZE", 1)))


def init() -> Ranks:
    """Join torchrun's process group (gloo for CPU tensors, NCCL for CUDA ones) where there is more
    than one rank. Each rank sees only its own GPU (humanoid_fpo/__init__.py pins
    CUDA_VISIBLE_DEVICES to LOCAL_RANK before JAX or torch start), so both use device 0."""
    ranks = from_environment()
    if ranks.world > 1 and not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(0)
    return ranks


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def mean(x: torch.Tensor) -> torch.Tensor:
    """`x` averaged over ranks (a new tensor); `x` itself with one process."""
    if not active():
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()


def total(x: torch.Tensor) -> torch.Tensor:
    """`x` summed over ranks (a new tensor); `x` itself with one process."""
    if not active():
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x


def mean_floats(values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over ranks, in one all-reduce (every rank passes the same keys)."""
    if not active() or not values:
        return values
    averaged = mean(torch.tensor(list(values.values()), dtype=torch.float64)).tolist()
    return dict(zip(values, averaged))


def moments(x: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Count, mean (...) and population variance (...) of `x` (B, ...) over the union of every rank's
    batch (ranks hold equal B)."""
    n, m, v = x.shape[0], x.mean(0), x.var(0, unbiased=False)
    if not active():
        return n, m, v
    both = mean(torch.stack([m, v + m.square()]))
    return n * dist.get_world_size(), both[0], both[1] - both[0].square()


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every rank's gradients with their mean over ranks, in one all-reduce."""
    grads = [p.grad for p in parameters if p.grad is not None] if active() else []
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def broadcast_tensors(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite every rank's `tensors` (in place) with rank 0's."""
    if active():
        for t in tensors:
            dist.broadcast(t, 0)


def weights_difference(tensors: Iterable[torch.Tensor]) -> float:
    """max |θ_rank − θ_rank0| over every rank and element: 0.0 when the ranks agree (one process: 0)."""
    tensors = list(tensors)
    if not active():
        return 0.0
    mine = torch.cat([t.detach().flatten().double() for t in tensors])
    first = mine.clone()
    dist.broadcast(first, 0)
    diff = (mine - first).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return diff.item()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` (picklable) on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0, device=torch.device("cpu"))
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank ([obj] with one process)."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def close(barrier: bool = True) -> None:
    """Leave the process group; with `barrier` (a normal end) once every rank has got there, so that
    none tears its connections down while another still works (gloo aborts the process then)."""
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()
