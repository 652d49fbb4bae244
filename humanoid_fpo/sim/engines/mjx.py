"""The MJX engine: MuJoCo in JAX, every env's substeps inside the jitted task (vmapped; batched on a
GPU). Physical randomisation scales the model's fields per env inside the vmap. A planner's `rollout`
is one jitted function (compiled once per shape): the samples vmapped, each a scan over its control
steps, in float32 in the nominal scene."""

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
    decimation: int
    randomized: bool

    def pose(self, physical: Physical, qpos: jax.Array, qvel: jax.Array, state: PhysicsState | None = None,
             active: jax.Array | None = None) -> PhysicsState:
        def one(p: Physical, qp: jax.Array, qv: jax.Array, d: mjx.Data | None) -> mjx.Data:
            m = self.env_model(p)
            d = mjx.make_data(m) if d is None else d
            return _kinematics(m, d.replace(qpos=qp, qvel=qv))

        return _public(jax.vmap(one)(physical, qpos, qvel, None if state is None else _internal(state)))

    def simulate(self, physical: Physical, state: PhysicsState) -> PhysicsState:
        def one(p: Physical, d: mjx.Data) -> mjx.Data:
            m = self.env_model(p)
            d = jax.lax.fori_loop(0, self.decimation, lambda _, x: mjx.step(m, x), d)
            return _kinematics(m, d)

        return _public(jax.vmap(one)(physical, _internal(state)))

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """See `Engine.rollout`; a sample that turns non-finite is `failed` (MJX raises nothing)."""
        xpos = np.asarray(_rollout(self, *(jnp.asarray(x) for x in (qpos, qvel, warmstart, controls))))
        return Rollout(xpos, ~np.isfinite(xpos).all(axis=(1, 2, 3)))

    def env_model(self, p: Physical) -> mjx.Model:
        """One env's model (inside vmap: `p` holds one env's scales)."""
        return self.model.tree_replace(scaled_fields(self.model, p)) if self.randomized else self.model


jax.tree_util.register_dataclass(MjxEngine, data_fields=["model"], meta_fields=["decimation", "randomized"])


def make(cfg, mj_model: mujoco.MjModel) -> MjxEngine:
    try:
        model = mjx.put_model(mj_model)
    except NotImplementedError as error:
        raise ValueError(f"env.backend=mjx cannot run this scene ({error}); use env.backend=native") from None
    return MjxEngine(model, cfg.decimation, is_physical(cfg.randomize))


@jax.jit
def _rollout(engine: MjxEngine, qpos: jax.Array, qvel: jax.Array, warmstart: jax.Array,
             controls: jax.Array) -> jax.Array:
    """(S, T, nbody, 3) body positions after each control step of each sample, from qpos (nq,) or
    (S, nq) etc. under controls (S, T, nu), in the nominal model."""
    m = engine.model

    def sample(qp: jax.Array, qv: jax.Array, w: jax.Array, ctrl: jax.Array) -> jax.Array:
        def control_step(d: mjx.Data, target: jax.Array) -> tuple[mjx.Data, jax.Array]:
            d = jax.lax.fori_loop(0, engine.decimation, lambda _, x: mjx.step(m, x), d.replace(ctrl=target))
            return d, mjx.kinematics(m, d).xpos

        start = mjx.make_data(m).replace(qpos=qp, qvel=qv, qacc_warmstart=w)
        return jax.lax.scan(control_step, start, ctrl)[1]

    s = len(controls)
    start = (jnp.broadcast_to(x, (s, x.shape[-1])) for x in (qpos, qvel, warmstart))
    return jax.vmap(sample)(*start, controls)


def _kinematics(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Body poses, centres of mass and velocities of data.qpos, data.qvel."""
    return mjx.com_vel(model, mjx.com_pos(model, mjx.kinematics(model, data)))


def _internal(state: PhysicsState) -> mjx.Data:
    """The MJX data of `state`, with the task's changes to its state and controls."""
    return state.internal.replace(qpos=state.qpos, qvel=state.qvel, qacc_warmstart=state.warmstart,
                                  ctrl=state.ctrl)


def _public(d: mjx.Data) -> PhysicsState:
    return PhysicsState(qpos=d.qpos, qvel=d.qvel, warmstart=d.qacc_warmstart, ctrl=d.ctrl,
                        actuator_force=d.actuator_force, xpos=d.xpos, xquat=d.xquat, cvel=d.cvel,
                        subtree_com=d.subtree_com, internal=d)
