"""Domain randomisation per env: contact friction, body masses, PD gains, pushes, observation noise.

Each term is a range (or a magnitude) in config; None switches it off. Physical parameters are
drawn at every reset and kept in the env state; the physics engine applies them to its model
(`scaled_fields`, numpy or JAX alike).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from humanoid_fpo.sim.config import RandomizeConfig


NONE = RandomizeConfig(friction=None, mass=None, kp=None, kv=None)
"""Everything off (evaluation)."""


class Physical(NamedTuple):
    """Per-env physical scales (1 where a term is off)."""

    friction: jax.Array  # (N,)
    mass: jax.Array  # (N, nbody)
    kp: jax.Array  # (N, nu)
    kv: jax.Array  # (N, nu)


def sample_physical(cfg: RandomizeConfig, key: jax.Array, n: int, nbody: int, nu: int) -> Physical:
    keys = jax.random.split(key, 4)

    def draw(k, bounds, shape):
        if bounds is None:
            return jnp.ones(shape)
        return jax.random.uniform(k, shape, minval=bounds[0], maxval=bounds[1])

    return Physical(draw(keys[0], cfg.friction, (n,)), draw(keys[1], cfg.mass, (n, nbody)),
                    draw(keys[2], cfg.kp, (n, nu)), draw(keys[3], cfg.kv, (n, nu)))


def is_physical(cfg: RandomizeConfig) -> bool:
    return any(r is not None for r in (cfg.friction, cfg.mass, cfg.kp, cfg.kv))


RANDOMIZED_FIELDS = ("pair_friction", "body_mass", "body_inertia", "actuator_gainprm", "actuator_biasprm",
                     "dof_damping")
"""The model fields physical randomisation scales."""


def scaled_fields(model, p: Physical) -> dict:
    """RANDOMIZED_FIELDS of `model` (an mjx.Model or MjModel) scaled by `p`: sliding friction,
    masses and inertias, stiffness kp (gain and bias) and the actuated joints' damping kv. With one env's `p`
    (inside MJX's vmap) the fields keep their shapes; with (N,) scales from numpy they gain a
    leading N, for the native backend's per-env models."""
    friction = p.friction[..., None]
    return {
        "pair_friction": _scale_columns(model.pair_friction, {0: friction, 1: friction}),
        "body_mass": model.body_mass * p.mass,
        "body_inertia": model.body_inertia * p.mass[..., None],
        "actuator_gainprm": _scale_columns(model.actuator_gainprm, {0: p.kp}),
        "actuator_biasprm": _scale_columns(model.actuator_biasprm, {1: p.kp}),
        "dof_damping": model.dof_damping * (1 + (p.kv - 1) @ _actuated_dofs(model)),
    }


def _actuated_dofs(model):
    """(nu, nv) 1 where actuator i drives dof j: maps per-actuator scales onto dofs."""
    dof = model.jnt_dofadr[model.actuator_trnid[:, 0]]
    return (dof[:, None] == np.arange(model.dof_damping.shape[-1])).astype(np.float32)


def _scale_columns(x, scales: dict):
    """x (rows, width) with column i times scales[i] (..., rows or 1): numpy or JAX alike."""
    columns = np.arange(x.shape[-1])
    return x * (1 + sum((s[..., None] - 1) * (columns == i) for i, s in scales.items()))


def push(cfg: RandomizeConfig, key: jax.Array, qvel: jax.Array, control_dt: float) -> jax.Array:
    """(N, nv) root velocities kicked, each env with probability control_dt / push_interval."""
    if cfg.push_velocity is None:
        return qvel
    k_when, k_kick = jax.random.split(key)
    n = qvel.shape[0]
    when = jax.random.uniform(k_when, (n, 1)) < control_dt / cfg.push_interval
    kick = jax.random.uniform(k_kick, (n, 2), minval=-cfg.push_velocity, maxval=cfg.push_velocity)
    return qvel.at[:, :2].add(jnp.where(when, kick, 0.0))


def noisy(cfg: RandomizeConfig, key: jax.Array, obs: jax.Array, columns: jax.Array) -> jax.Array:
    """(N, O) observations with noise on `columns` (O,) flags."""
    if cfg.obs_noise is None:
        return obs
    return obs + cfg.obs_noise * columns * jax.random.normal(key, obs.shape)
