"""PHC's imitation reward, one small function per term, and the tracking errors.

reward = Σ weight · exp(-scale · error) over the tracking terms − power_weight · Σ|τ·q̇|.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from humanoid_fpo.sim.config import RewardConfig
from humanoid_fpo.sim.observations import Bodies
from humanoid_fpo.sim.quat import quat_angle, quat_conj, quat_mul
from humanoid_fpo.body.skeleton import MUJOCO_BODY_NAMES

PROTOCOL_BODIES = tuple(i for i, name in enumerate(MUJOCO_BODY_NAMES)
                        if name not in ("L_Hand", "R_Hand", "L_Toe", "R_Toe"))
"""The 20 bodies of the success-rate protocol's failure test."""
FAIL_DISTANCE = 0.5
"""m: the protocol fails a clip at the first frame where `protocol_error` passes it."""


def protocol_error(body_error):
    """(...,) m: the mean position error of the 20 protocol bodies, from per-body errors (..., 24),
    numpy or JAX alike: the one failure rule of the env's evaluation config, `evaluate`, `play` and
    the teacher."""
    return body_error[..., np.asarray(PROTOCOL_BODIES)].mean(-1)


def reward_pos(sim: Bodies, ref: Bodies, scale: float) -> jax.Array:
    return jnp.exp(-scale * jnp.mean((ref.pos - sim.pos) ** 2, axis=(1, 2)))


def reward_rot(sim: Bodies, ref: Bodies, scale: float) -> jax.Array:
    angle = quat_angle(quat_mul(ref.quat, quat_conj(sim.quat)))  # (N, 24)
    return jnp.exp(-scale * jnp.mean(angle ** 2, axis=1))


def reward_vel(sim: Bodies, ref: Bodies, scale: float) -> jax.Array:
    return jnp.exp(-scale * jnp.mean((ref.lin_vel - sim.lin_vel) ** 2, axis=(1, 2)))


def reward_ang_vel(sim: Bodies, ref: Bodies, scale: float) -> jax.Array:
    return jnp.exp(-scale * jnp.mean((ref.ang_vel - sim.ang_vel) ** 2, axis=(1, 2)))


def power(actuator_force: jax.Array, joint_vel: jax.Array) -> jax.Array:
    """(N,) Σ|τ·q̇| over the actuated joints, W."""
    return jnp.sum(jnp.abs(actuator_force * joint_vel), axis=-1)


def tracking_reward(cfg: RewardConfig, sim: Bodies, ref: Bodies, actuator_force: jax.Array,
                    joint_vel: jax.Array, episode_step: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(N,) reward and its terms by name (unweighted, as logged: "power" is the joint power in W at
    every step, also during the warmup, where it is not penalised)."""
    terms = {"pos": reward_pos(sim, ref, cfg.pos[1]), "rot": reward_rot(sim, ref, cfg.rot[1]),
             "vel": reward_vel(sim, ref, cfg.vel[1]), "ang_vel": reward_ang_vel(sim, ref, cfg.ang_vel[1]),
             "power": power(actuator_force, joint_vel)}
    total = sum(getattr(cfg, name)[0] * terms[name] for name in ("pos", "rot", "vel", "ang_vel"))
    total = total - jnp.where(episode_step > cfg.power_warmup_steps, cfg.power_weight * terms["power"], 0.0)
    return (total if cfg.floor is None else jnp.maximum(total, cfg.floor)), terms


def body_errors(sim: Bodies, ref: Bodies) -> tuple[jax.Array, jax.Array]:
    """(N, 24) global and root-relative position errors, m."""
    global_error = jnp.linalg.norm(ref.pos - sim.pos, axis=-1)
    local_error = jnp.linalg.norm((ref.pos - ref.pos[:, :1]) - (sim.pos - sim.pos[:, :1]), axis=-1)
    return global_error, local_error
