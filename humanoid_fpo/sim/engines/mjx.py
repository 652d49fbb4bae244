"""The MJX engine: MuJoCo in JAX, every env's substeps inside the jitted task (vmapped; batched on a
GPU). Physical randomisation scales the model's fields per env inside the vmap. A planner's `rollout`
is one jitted function (compiled once per shape): the samples vmapped, each a scan over its control
steps, in float32 in the nominal scene.

The same code runs MJX's two implementations (`impl`): "jax" (env.backend=mjx) and "warp"
(env.backend=warp, engines/warp.py: MuJoCo Warp's kernels called from JAX). Where they differ:
Warp's data is made from the MjModel, keeps some fields (its contacts) once for the whole batch,
and has no separate velocity kinematics (a forward pass stands in)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from humanoid_fpo.sim.engines import PhysicsState, Rollout
from humanoid_fpo.sim.quiet_mjx import mjx
from humanoid_fpo.sim.randomize import Physical, is_physical, scaled_fields


@dataclass(frozen=True)
class MjxEngine:
    model: mjx.Model
    fresh: mjx.Data  # one env's data at rest (Warp: with contact rows for one env)
    decimation: int
    randomized: bool

    def pose(self, physical: Physical, qpos: jax.Array, qvel: jax.Array, state: PhysicsState | None = None,
             active: jax.Array | None = None) -> PhysicsState:
        fresh = _for_batch(self.fresh, len(qpos))

        def one(p: Physical, qp: jax.Array, qv: jax.Array, d: mjx.Data | None) -> mjx.Data:
            d = fresh if d is None else d
            return _kinematics(self.env_model(p), d.replace(qpos=qp, qvel=qv))

        return _public(jax.vmap(one)(physical, qpos, qvel, None if state is None else self.internal(state)))

    def simulate(self, physical: Physical, state: PhysicsState) -> PhysicsState:
        def one(p: Physical, d: mjx.Data) -> mjx.Data:
            m = self.env_model(p)
            d = jax.lax.fori_loop(0, self.decimation, lambda _, x: mjx.step(m, x), d)
            return _kinematics(m, d)

        return _public(jax.vmap(one)(physical, self.internal(state)))

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """See `Engine.rollout`; a sample that turns non-finite is `failed` (MJX raises nothing)."""
        xpos = np.asarray(_rollout(self, *(jnp.asarray(x) for x in (qpos, qvel, warmstart, controls))))
        return Rollout(xpos, ~np.isfinite(xpos).all(axis=(1, 2, 3)))

    def env_model(self, p: Physical) -> mjx.Model:
        """One env's model (inside vmap: `p` holds one env's scales)."""
        return self.model.tree_replace(scaled_fields(self.model, p)) if self.randomized else self.model

    def internal(self, state: PhysicsState) -> mjx.Data:
        """The MJX data (N) of `state`, with the task's changes to its state and controls."""
        d = state.internal.replace(qpos=state.qpos, qvel=state.qvel, qacc_warmstart=state.warmstart,
                                   ctrl=state.ctrl)
        return _with_shared(d, _for_batch(self.fresh, len(state.qpos)))


jax.tree_util.register_dataclass(MjxEngine, data_fields=["model", "fresh"],
                                 meta_fields=["decimation", "randomized"])


def make(cfg, mj_model: mujoco.MjModel, impl: str = "jax", **sizes: int) -> MjxEngine:
    """The engine on MJX's `impl` ("jax" or "warp"); `sizes`: make_data's buffer sizes (Warp's)."""
    try:
        model = mjx.put_model(mj_model, impl=impl)
    except NotImplementedError as error:
        raise ValueError(f"env.backend={cfg.backend} cannot run this scene ({error}); "
                         "use env.backend=native") from None
    return MjxEngine(model, mjx.make_data(mj_model, impl=impl, **sizes), cfg.decimation,
                     is_physical(cfg.randomize))


@jax.jit
def _rollout(engine: MjxEngine, qpos: jax.Array, qvel: jax.Array, warmstart: jax.Array,
             controls: jax.Array) -> jax.Array:
    """(S, T, nbody, 3) body positions after each control step of each sample, from qpos (nq,) or
    (S, nq) etc. under controls (S, T, nu), in the nominal model."""
    m = engine.model
    s = len(controls)
    fresh = _for_batch(engine.fresh, s)

    def sample(qp: jax.Array, qv: jax.Array, w: jax.Array, ctrl: jax.Array) -> jax.Array:
        def control_step(d: mjx.Data, target: jax.Array) -> tuple[mjx.Data, jax.Array]:
            d = jax.lax.fori_loop(0, engine.decimation, lambda _, x: mjx.step(m, x), d.replace(ctrl=target))
            return d, mjx.kinematics(m, d).xpos

        return jax.lax.scan(control_step, fresh.replace(qpos=qp, qvel=qv, qacc_warmstart=w), ctrl)[1]

    start = (jnp.broadcast_to(x, (s, x.shape[-1])) for x in (qpos, qvel, warmstart))
    return jax.vmap(sample)(*start, controls)


def _kinematics(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Body poses, centres of mass and velocities of data.qpos, data.qvel; its warm start and
    actuator forces stay those of `data` (the last substep's)."""
    if data.impl == mjx.Impl.JAX:
        return mjx.com_vel(model, mjx.com_pos(model, mjx.kinematics(model, data)))
    # MJX's Warp implementation has no com_vel: a forward pass computes the velocities (and more)
    done = mjx.forward(model, data)
    return done.replace(qacc_warmstart=data.qacc_warmstart, actuator_force=data.actuator_force)


def _public(d: mjx.Data) -> PhysicsState:
    return PhysicsState(qpos=d.qpos, qvel=d.qvel, warmstart=d.qacc_warmstart, ctrl=d.ctrl,
                        actuator_force=d.actuator_force, xpos=d.xpos, xquat=d.xquat, cvel=d.cvel,
                        subtree_com=d.subtree_com, internal=_with_shared(d, None))


# --- what MJX's Warp data shares across a batch ----------------------------------------------------
# MJX's Warp data keeps some fields once for a whole batch, not vmapped (`DATA_NON_VMAP`): the contacts
# of every env in one pool (`contact__*`, `naconmax` rows: N envs need N envs' rows), its counters and
# index tables. Each step refills them (or they are constant), so they stay out of the state, whose
# every leaf is then per env (as the task's resets merge them), and come fresh with each call.
# MJX-JAX data shares nothing: these leave it unchanged.

def _shared(d: mjx.Data) -> dict[str, jax.Array]:
    """The arrays Warp data `d` keeps once for its batch, by field name (none for MJX-JAX data)."""
    if d.impl != mjx.Impl.WARP:
        return {}
    fields = {k: getattr(d._impl, k) for k in sorted(mjx.warp.types.DATA_NON_VMAP)}
    return {k: v for k, v in fields.items() if not isinstance(v, int)}  # the ints are static sizes


def _for_batch(fresh: mjx.Data, n: int) -> mjx.Data:
    """`fresh` (one env) with a contact pool for n envs: its rows repeated n times."""
    pool = {f"_impl.{k}": jnp.tile(v, (n,) + (1,) * (v.ndim - 1))
            for k, v in _shared(fresh).items() if k.startswith("contact__")}
    if not pool:
        return fresh
    rows = {f"_impl.{k}": n * getattr(fresh._impl, k) for k in ("naconmax", "naccdmax")}
    return fresh.tree_replace({**pool, **rows})


def _with_shared(d: mjx.Data, source: mjx.Data | None) -> mjx.Data:
    """`d` with the shared fields of `source` (None: without them)."""
    shared = _shared(d if source is None else source)
    if not shared:
        return d
    return d.tree_replace({f"_impl.{k}": None if source is None else v for k, v in shared.items()})
