"""Placing a library clip in an env's world: a heading rotation about z, a shift onto the env's
tile, and a lift by the terrain height under the reference root."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from humanoid_fpo.motion.library import MotionFrame
from humanoid_fpo.sim.quat import quat_mul, quat_rotate, yaw_quat
from humanoid_fpo.sim.terrain import Terrain, height_at


def _rotate_xy(yaw: jax.Array, xy: jax.Array) -> jax.Array:
    """Rotate (N, 2) by (N,) angles."""
    cos, sin = jnp.cos(yaw), jnp.sin(yaw)
    return jnp.stack([cos * xy[:, 0] - sin * xy[:, 1], sin * xy[:, 0] + cos * xy[:, 1]], axis=-1)


def shift_for(start: MotionFrame, yaw: jax.Array, origin: jax.Array) -> jax.Array:
    """(N, 2) shift that puts the rotated start root at `origin` (N, 2)."""
    return origin - _rotate_xy(yaw, start.qpos[:, :2])


def place(frame: MotionFrame, yaw: jax.Array, shift: jax.Array, terrain: Terrain) -> MotionFrame:
    """`frame` (N envs) rotated by `yaw` (N,), shifted by `shift` (N, 2), lifted onto the terrain."""
    rot = yaw_quat(yaw)  # (N, 4)
    root_xy = _rotate_xy(yaw, frame.qpos[:, :2]) + shift
    offset = jnp.concatenate([shift, height_at(terrain, root_xy)[:, None]], axis=-1)  # (N, 3)
    bodies = frame.body_pos.shape[1]
    body_rot = jnp.broadcast_to(rot[:, None], (rot.shape[0], bodies, 4))
    qpos = frame.qpos.at[:, :3].set(quat_rotate(rot, frame.qpos[:, :3]) + offset)
    qpos = qpos.at[:, 3:7].set(quat_mul(rot, frame.qpos[:, 3:7]))
    # Free-joint qvel: linear velocity in the world frame, angular in the body frame (unchanged).
    qvel = frame.qvel.at[:, :3].set(quat_rotate(rot, frame.qvel[:, :3]))
    return MotionFrame(
        qpos=qpos,
        qvel=qvel,
        body_pos=quat_rotate(body_rot, frame.body_pos) + offset[:, None],
        body_quat=quat_mul(body_rot, frame.body_quat),
        body_lin_vel=quat_rotate(body_rot, frame.body_lin_vel),
        body_ang_vel=quat_rotate(body_rot, frame.body_ang_vel),
    )


def unplace(qpos: jax.Array, qvel: jax.Array, yaw: jax.Array, shift: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Physics states qpos (N, nq), qvel (N, nv) of envs placed by `yaw` (N,), `shift` (N, 2) back in
    the library's world: the inverse of `place` on flat ground (no lift)."""
    back = yaw_quat(-yaw)  # (N, 4)
    xy = qpos[:, :2] - shift
    root = quat_rotate(back, jnp.concatenate([xy, qpos[:, 2:3]], -1))
    qpos = qpos.at[:, :3].set(root).at[:, 3:7].set(quat_mul(back, qpos[:, 3:7]))
    return qpos, qvel.at[:, :3].set(quat_rotate(back, qvel[:, :3]))
