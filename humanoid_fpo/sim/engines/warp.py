"""The Warp engine: the MJX engine (engines/mjx.py) on MJX's Warp implementation, MuJoCo Warp's
kernels called from the jitted task (CUDA on a GPU; Warp's CPU device elsewhere, for checks).
Needs warp-lang (tools/setup.sh installs it); `mujoco-mjx` vendors MuJoCo Warp itself."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import jax
import mujoco

from humanoid_fpo.sim.engines import mjx as mjx_engine
from humanoid_fpo.sim.quiet_mjx import mjx


def make(cfg, mj_model: mujoco.MjModel) -> mjx_engine.MjxEngine:
    use_kernel_cache()
    from mujoco.mjx.third_party.mujoco_warp import OverflowType  # imports warp

    engine = mjx_engine.make(cfg, mj_model, impl="warp", njmax=max_constraints(mj_model))
    # the solver runs its fixed iterations, as MuJoCo C's does, without a warning per step; buffer
    # overflows (contacts, constraint rows) still print one
    quiet = OverflowType.ALL & ~(OverflowType.ITERATIONS | OverflowType.LS_ITERATIONS)
    return replace(engine, model=engine.model.tree_replace({"opt._impl.warn_overflow": int(quiet)}))


def use_kernel_cache() -> None:
    """Keep the kernels Warp builds once (20-194 s on a 2-core CPU) in `warp/` beside JAX's persistent
    cache (a run's `jax_cache`, default .cache/jax → .cache/warp), unless WARP_CACHE_PATH or the
    caller chose a folder; with no JAX cache, Warp's own default (~/.cache/warp)."""
    import warp

    jax_cache = jax.config.jax_compilation_cache_dir
    if "WARP_CACHE_PATH" not in os.environ and warp.config.kernel_cache_dir is None and jax_cache:
        warp.config.kernel_cache_dir = str(Path(jax_cache).parent / "warp")


def max_constraints(mj_model: mujoco.MjModel) -> int:
    """Constraint rows one env can need (Warp allocates njmax per env and drops rows beyond it, with
    a printed warning; its default, 64 on flat ground, is below the humanoid's 69 joint limits):
    every equality, friction loss and joint limit active, and as many contacts as Warp's default
    pool holds per env, each with the rows of its friction cone."""
    condim = int(max(mj_model.geom_condim.max(initial=1), mj_model.pair_dim.max(initial=1)))
    cone = 2 * (condim - 1) if mj_model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL else condim
    contacts = mjx.make_data(mj_model, impl="warp")._impl.naconmax
    return int(6 * mj_model.neq + (mj_model.dof_frictionloss > 0).sum() + mj_model.jnt_limited.sum()
               + contacts * max(cone, 1))
