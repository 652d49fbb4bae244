"""Benchmark what one update moves: the learner's policy-change estimate against its step size, on
one rollout of a trained run.

    .venv/bin/python tools/bench_update.py RUN                  # writes BENCHMARKS.md
    .venv/bin/python tools/bench_update.py RUN --no-write

From RUN's checkpoint it collects one rollout in the run's training env, then runs one update from the
same weights for each precision (bf16, fp32) and fixed learning rate (0, 1e-6, ..., 1e-3; adaptive lr
off), recording the policy's change since the rollout (`divergence`) before every minibatch: lr 0
measures the estimate's floor, the others whether it follows the step. Then three updates with the
run's own adaptive rule, printing the lr and the divergence at every minibatch (the rule acts on the
change since the rollout, which only grows within an update). Minutes on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import copy
import datetime
from dataclasses import replace
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import numpy as np
import torch

from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.rollout import collect
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.run.experiments import trainer_of_copy

from bench_table import command_line, machine, write_rows  # tools/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Policy change per update: tools/bench_update.py"
HEADER = ("| date | machine | run (iteration) | precision | lr "
          "| divergence: mean over the update / last minibatch | clip fraction | approx KL | command |\n"
          "|---|---|---|---|---|---|---|---|---|")
RATES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3)


def recording(learner: Learner) -> list[float]:
    """The divergence the learner measures before each of its next minibatches, as they come."""
    seen: list[float] = []
    measure = learner.policy.divergence

    def divergence(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        value = measure(before, after)
        seen.append(value.item())
        return value

    learner.policy.divergence = divergence
    return seen


def restore_stored(learner: Learner, storage: RolloutStorage) -> None:
    """The rollout's stored CFM losses and probe recomputed under the learner's precision, a rollout
    step (N actions) at a time as `act` computes them, so that the first minibatch's ratio is 1."""
    with torch.no_grad(), learner._autocast():
        parts = [learner.policy.cfm(*(storage[k][t] for k in ("obs", "actions", "tau", "eps")))
                 for t in range(storage.num_steps)]
    storage.buffers["cfm_loss"] = torch.stack([p[0] for p in parts])
    storage.buffers["probe"] = torch.stack([p[1] for p in parts])


def fixed_rate_update(learner: Learner, weights: dict, storage: RolloutStorage, last_values: torch.Tensor,
                      precision: str, lr: float) -> dict[str, float]:
    """One update from `weights` at a fixed lr: its divergences and trust-region figures."""
    learner.load_state_dict(copy.deepcopy(weights))
    learner.precision, learner.cfg = precision, replace(learner.cfg, adaptive_lr=False)
    for group in learner.optimizer.param_groups:
        group["lr"] = lr
    restore_stored(learner, storage)
    seen = recording(learner)
    torch.manual_seed(0)  # the same minibatches for every setting
    metrics = learner.update(storage, last_values)
    del learner.policy.divergence
    return {"mean": float(np.mean(seen)), "last": seen[-1], "clip_fraction": metrics["clip_fraction"],
            "approx_kl": metrics["approx_kl"]}


def adaptive_trace(trainer, updates: int) -> None:
    """Print lr and divergence at every minibatch of `updates` updates under the run's adaptive rule."""
    learner = trainer.learner
    adapt = learner._adapt_lr
    for k in range(updates):
        collect(learner, trainer.env, trainer.storage, trainer.tracker)
        trace: list[str] = []

        def traced(divergence: float, trace: list[str] = trace) -> None:
            trace.append(f"{learner.lr:.1e}/{divergence:.1e}")
            adapt(divergence)

        learner._adapt_lr = traced
        learner.update(trainer.storage, learner.value(trainer.env.observe()[1]))
        del learner._adapt_lr
        print(f"adaptive update {k}: lr/divergence per minibatch {' '.join(trace)}; "
              f"ends at lr {learner.lr:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run folder with a checkpoint")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with trainer_of_copy(args.run) as trainer:  # the run itself is never written
        learner = trainer.learner
        weights, precision, algo = copy.deepcopy(learner.state_dict()), learner.precision, learner.cfg
        collect(learner, trainer.env, trainer.storage, trainer.tracker)
        last_values = learner.value(trainer.env.observe()[1])
        rows, date, command = [], datetime.date.today().isoformat(), command_line()
        for kind in ("bf16", "fp32"):
            for lr in RATES:
                r = fixed_rate_update(learner, weights, trainer.storage, last_values, kind, lr)
                print(f"{kind} lr {lr:.0e}: divergence mean {r['mean']:.2e}, last {r['last']:.2e}, "
                      f"clip fraction {r['clip_fraction']:.3f}, approx KL {r['approx_kl']:.1e}", flush=True)
                run = f"{args.run.name} ({trainer.iteration})"
                cells = [date, machine(), run, kind, f"{lr:g}", f"{r['mean']:.2e} / {r['last']:.2e}",
                         f"{r['clip_fraction']:.3f}", f"{r['approx_kl']:.1e}", f"`{command}`"]
                rows.append("| " + " | ".join(cells) + " |")
        learner.load_state_dict(weights)
        learner.precision, learner.cfg = precision, algo
        adaptive_trace(trainer, 3)
    if not args.no_write:
        write_rows(args.output, SECTION, HEADER, rows, slice(1, 5))


if __name__ == "__main__":
    main()
