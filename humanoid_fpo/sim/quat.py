"""Quaternion helpers in JAX, wxyz (MuJoCo's order), broadcasting over leading dimensions."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def quat_mul(a: jax.Array, b: jax.Array) -> jax.Array:
    """Hamilton product a ⊗ b of (..., 4) quaternions."""
    aw, ax, ay, az = jnp.moveaxis(a, -1, 0)
    bw, bx, by, bz = jnp.moveaxis(b, -1, 0)
    return jnp.stack([aw * bw - ax * bx - ay * by - az * bz,
                      aw * bx + ax * bw + ay * bz - az * by,
                      aw * by - ax * bz + ay * bw + az * bx,
                      aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_conj(q: jax.Array) -> jax.Array:
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], q.dtype)


def quat_rotate(q: jax.Array, v: jax.Array) -> jax.Array:
    """Rotate (..., 3) vectors by unit quaternions (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * jnp.cross(u, v)
    return v + w * t + jnp.cross(u, t)


def yaw_quat(yaw: jax.Array) -> jax.Array:
    """(...) angles about world z → (..., 4) quaternions."""
    zero = jnp.zeros_like(yaw)
    return jnp.stack([jnp.cos(yaw / 2), zero, zero, jnp.sin(yaw / 2)], axis=-1)


def heading(q: jax.Array) -> jax.Array:
    """(..., 4) → (...) yaw of the body's x axis (forward) projected on the ground."""
    forward = quat_rotate(q, jnp.broadcast_to(jnp.array([1.0, 0.0, 0.0], q.dtype), q.shape[:-1] + (3,)))
    return jnp.arctan2(forward[..., 1], forward[..., 0])


def tan_norm(q: jax.Array) -> jax.Array:
    """(..., 4) → (..., 6): the rotated x axis (tangent) and z axis (normal), a continuous encoding."""
    ex = jnp.broadcast_to(jnp.array([1.0, 0.0, 0.0], q.dtype), q.shape[:-1] + (3,))
    ez = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0], q.dtype), q.shape[:-1] + (3,))
    return jnp.concatenate([quat_rotate(q, ex), quat_rotate(q, ez)], axis=-1)


def quat_angle(q: jax.Array) -> jax.Array:
    """(..., 4) → (...) rotation angle in [0, π]."""
    return 2.0 * jnp.arctan2(jnp.linalg.norm(q[..., 1:], axis=-1), jnp.abs(q[..., 0]))
