"""Run by tests/test_distributed.py under torchrun (2 CPU ranks, gloo): each rank updates a learner
on its half of one rollout and folds its half of a batch into a normaliser; OUT/rank<r>.pt holds
the results, which the test compares with one process doing the same on the whole.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_update.py OUT POLICY
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from humanoid_fpo.learn import distributed
from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.normalizer import Normalizer
from humanoid_fpo.learn.storage import RolloutStorage

OBS, ACTIONS, STEPS, ENVS = 6, 3, 4, 8


def rollout(policy: str) -> tuple[Learner, RolloutStorage, torch.Tensor, torch.Tensor]:
    """A learner and one rollout of ENVS envs (the same on every rank: seeded), and a batch (16, OBS)."""
    torch.manual_seed(0)
    cfg = AlgoConfig(policy=policy, actor=NetConfig(hidden=(16,)), critic=NetConfig(hidden=(16,)), epochs=2,
                     minibatches=1, lr=1e-2)
    learner = Learner(cfg, OBS, OBS, ACTIONS)
    storage = RolloutStorage(STEPS)
    for _ in range(STEPS):
        obs = torch.randn(ENVS, OBS)
        _, record = learner.act(obs, obs, update_normalizers=False)
        storage.add(**record, rewards=torch.randn(ENVS), dones=torch.rand(ENVS) < 0.2)
    return learner, storage, torch.randn(ENVS), 3 + 2 * torch.randn(16, OBS)


def envs_of(storage: RolloutStorage, envs: slice) -> RolloutStorage:
    part = RolloutStorage(STEPS)
    part.buffers = {k: v[:, envs].clone() for k, v in storage.buffers.items()}
    part.step = STEPS
    return part


def results(learner: Learner, metrics: dict, norm: Normalizer) -> dict:
    return {"params": [p.detach().clone() for p in learner.parameters()], "lr": learner.lr,
            "metrics": metrics, "norm": {k: v.clone() for k, v in norm.state_dict().items()}}


def main(out: Path, policy: str) -> None:
    ranks = distributed.init()
    learner, storage, last_values, batch = rollout(policy)
    half = ENVS // ranks.world
    mine = slice(ranks.rank * half, (ranks.rank + 1) * half)
    metrics = learner.update(envs_of(storage, mine), last_values[mine])
    norm = Normalizer(OBS)
    norm.update(batch[ranks.rank * 8:(ranks.rank + 1) * 8])
    torch.save(results(learner, metrics, norm), out / f"rank{ranks.rank}.pt")
    distributed.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
