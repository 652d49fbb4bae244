"""A toy physics engine, to show the engine contract (sim/engines/) from outside: kinematic PD.

The joints reach their PD targets within a control step and the root stays where it is; body states
come from MuJoCo's kinematics on the host. Registered for a test by one line in sim/config.py's
ENGINES: {"kinematic": "toy_engine"}.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from humanoid_fpo.sim.engines import PhysicsState, Rollout
from humanoid_fpo.sim.randomize import Physical


class _Scene:
    """The scene's model and a workspace (static: compared by identity)."""

    def __init__(self, model: mujoco.MjModel, control_dt: float):
        self.model, self.data, self.control_dt = model, mujoco.MjData(model), control_dt

    def kinematics(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, ...]:
        m, d, out = self.model, self.data, []
        for q, v in zip(qpos, qvel):
            d.qpos[:], d.qvel[:] = q, v
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_comVel(m, d)
            out.append([d.xpos.copy(), d.xquat.copy(), d.cvel.copy(), d.subtree_com.copy()])
        return tuple(np.stack(x).astype(np.float32) for x in zip(*out))


@dataclass(frozen=True)
class KinematicEngine:
    scene: _Scene

    def pose(self, physical: Physical, qpos: jax.Array, qvel: jax.Array, state: PhysicsState | None = None,
             active: jax.Array | None = None) -> PhysicsState:
        zeros = jnp.zeros((qpos.shape[0], self.scene.model.nu))
        ctrl, force = (zeros, zeros) if state is None else (state.ctrl, state.actuator_force)
        return self._state(qpos, qvel, ctrl, force)

    def simulate(self, physical: Physical, state: PhysicsState) -> PhysicsState:
        qpos = state.qpos.at[:, 7:].set(state.ctrl)
        joint_vel = (state.ctrl - state.qpos[:, 7:]) / self.scene.control_dt
        qvel = jnp.zeros_like(state.qvel).at[:, 6:].set(joint_vel)
        return self._state(qpos, qvel, state.ctrl, jnp.zeros_like(state.ctrl))

    def rollout(self, qpos: np.ndarray, qvel: np.ndarray, warmstart: np.ndarray,
                controls: np.ndarray) -> Rollout:
        """Each control step's joints at its targets, the root where it starts; nothing blows up."""
        s, t, _ = controls.shape
        nq = self.scene.model.nq
        q = np.repeat(np.broadcast_to(qpos, (s, nq))[:, None], t, 1)  # (S, T, nq)
        q[..., 7:] = controls
        xpos = self.scene.kinematics(q.reshape(s * t, nq), np.zeros((s * t, self.scene.model.nv)))[0]
        return Rollout(xpos.reshape(s, t, -1, 3), np.zeros(s, bool))

    def _state(self, qpos: jax.Array, qvel: jax.Array, ctrl: jax.Array, force: jax.Array) -> PhysicsState:
        n, nbody = qpos.shape[0], self.scene.model.nbody
        shapes = tuple(jax.ShapeDtypeStruct((n, nbody, k), jnp.float32) for k in (3, 4, 6, 3))
        bodies = jax.pure_callback(lambda q, v: self.scene.kinematics(np.asarray(q), np.asarray(v)), shapes,
                                   qpos, qvel)
        return PhysicsState(qpos, qvel, jnp.zeros_like(qvel), ctrl, force, *bodies)


jax.tree_util.register_dataclass(KinematicEngine, data_fields=[], meta_fields=["scene"])


def make(cfg, mj_model: mujoco.MjModel) -> KinematicEngine:
    return KinematicEngine(_Scene(mj_model, cfg.control_dt))
