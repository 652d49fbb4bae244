"""Physics engines behind one contract. The task (sim/env.py) names no engine; it calls

    engine = make_engine(cfg, mj_model)                 # cfg.backend ("mjx", "native", "warp"), once
    state = engine.pose(physical, qpos, qvel)           # set N states (reset), with their kinematics
    state = engine.pose(physical, qpos, qvel, state)    # the same, keeping `state`'s controls (replay)
    state = engine.simulate(physical, state)            # cfg.decimation substeps under state.ctrl

and reads `PhysicsState`. `physical` holds each env's physical scales (friction, masses, gains;
sim/randomize.py), which the engine applies to its own model. An engine is a pytree (its arrays are
leaves, the rest static), so the jitted task takes it as an argument.

A planner (the teacher, teacher/mppi.py) asks for S futures of one state instead, from the host:

    futures = engine.rollout(qpos, qvel, warmstart, controls)  # numpy in, numpy out
    futures.xpos                                            # (S, T, nbody, 3) after each control step
    futures.failed                                          # (S,) the samples that blew up

in the nominal scene (no physical randomisation), at the engine's own precision (native: float64).

A new engine is one module here with a `make(cfg, mj_model)` and one line in sim/config.py's ENGINES.
"""

from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass, replace
from typing import Any, Protocol

import jax
import mujoco
import numpy as np

from humanoid_fpo.sim import config
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.randomize import Physical


@dataclass(frozen=True)
class PhysicsState:
    """The physics state of N envs and what the task reads of it, after kinematics."""

    qpos: jax.Array  # (N, nq)
    qvel: jax.Array  # (N, nv)
    warmstart: jax.Array  # (N, nv) the constraint solver's start, part of the state
    ctrl: jax.Array  # (N, nu) PD targets of the last step
    actuator_force: jax.Array  # (N, nu) of the last substep
    xpos: jax.Array  # (N, nbody, 3) body positions; row 0 is the world
    xquat: jax.Array  # (N, nbody, 4)
    cvel: jax.Array  # (N, nbody, 6) com-based velocities (angular, linear)
    subtree_com: jax.Array  # (N, nbody, 3)
    internal: Any = None  # what the engine keeps beyond these (MJX: its mjx.Data)

    def replace(self, **changes) -> PhysicsState:
        return replace(self, **changes)


jax.tree_util.register_dataclass(PhysicsState, data_fields=list(PhysicsState.__dataclass_fields__),
                                 meta_fields=[])


@dataclass(frozen=True)
class Rollout:
    """S futures of one start state (`Engine.rollout`), on the host."""

    xpos: np.ndarray  # (S, T, nbody, 3) body positions after each control step; row 0 is the world
    failed: np.ndarray  # (S,) bool: blew up (MuJoCo raised or warned of instability, or non-finite);
    # its positions from the blow-up on are not its own (stale, a reset pose or NaN)


class Engine(Protocol):
    def pose(self, physical: Physical, qpos: jax.Array, qvel: jax.Array, state: PhysicsState | None = None,
             active: jax.Array | None = None) -> PhysicsState:
        """Every env set to qpos (N, nq), qvel (N, nv) with its kinematics; warm start, controls and
        actuator forces are `state`'s (replay) or zero (reset). `active` (N,) bool: the only envs
        whose result is used (an engine may leave the others stale)."""

    def simulate(self, physical: Physical, state: PhysicsState) -> PhysicsState:
        """cfg.decimation physics steps of every env from `state` under state.ctrl, then kinematics."""

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """S futures of one state: qpos (nq,), qvel (nv,), the solver's warm start (nv,) (or one row
        of each per sample, (S, nq) ...); sample s holds PD targets controls[s, t] (S, T, nu) for
        cfg.decimation substeps at control step t. Called from the host, not inside a jitted
        function, for planning: in the nominal scene (physical randomisation does not apply), and at
        the engine's precision (the arrays are numpy: native float64 throughout, MJX float32)."""


def make_engine(cfg: EnvConfig, mj_model: mujoco.MjModel) -> Engine:
    """The engine `cfg.backend` names (resolved: not auto), on the scene `mj_model`."""
    if cfg.backend not in config.ENGINES:
        raise ValueError(f"unknown env.backend {cfg.backend!r}; choose from {', '.join(config.ENGINES)}")
    return importlib.import_module(config.ENGINES[cfg.backend]).make(cfg, mj_model)


def resolve_backend(cfg: EnvConfig) -> EnvConfig:
    """cfg with `auto` replaced by mjx where JAX's default device is a GPU, else native."""
    names = (*config.ENGINES, "auto")
    if cfg.backend not in names:
        raise ValueError(f"unknown env.backend {cfg.backend!r}; choose from {', '.join(names)}")
    gpu = jax.default_backend() == "gpu"
    if cfg.backend in _ON_A_CPU and not gpu:
        _warn_without_gpu(cfg.backend)
    if cfg.backend != "auto":
        return cfg
    return replace(cfg, backend="mjx" if gpu else "native")


_ON_A_CPU = {"mjx": "MJX on a CPU compiles for minutes and steps 13-20x slower than env.backend=native",
             "warp": "Warp on a CPU steps 13-21x slower than env.backend=native (and 1.5-3x slower than MJX)"}
"""What the GPU engines cost where JAX sees no GPU."""


@functools.cache
def _warn_without_gpu(backend: str) -> None:
    """Once per process and engine (a run makes its training and evaluation envs)."""
    print(f"warning: env.backend={backend} but JAX sees no GPU: {_ON_A_CPU[backend]} "
          "(humanoid-fpo doctor shows the devices)", file=sys.stderr)
