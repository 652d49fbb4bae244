"""Observations in the heading frame of the current root, and the goal masks.

Actor observation = [self (358) | goal (24 bodies × 24) | goal mask (24 body flags) | height scan].
The critic's has the same layout with the goal unmasked. `obs_layout` names the slices; the
exporter and `deploy/` read the same table.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from humanoid_fpo.motion.library import MotionFrame
from humanoid_fpo.sim.config import MODES, ObsConfig
from humanoid_fpo.sim.engines import PhysicsState
from humanoid_fpo.sim.quat import heading, quat_conj, quat_mul, quat_rotate, tan_norm, yaw_quat
from humanoid_fpo.sim.terrain import Terrain, height_at
from humanoid_fpo.body.mirror import AXIAL, BODY_SWAP, TAN_NORM, VECTOR
from humanoid_fpo.body.skeleton import MUJOCO_BODY_NAMES, NUM_JOINTS


GOAL_FEATURES = {"pos_diff": slice(0, 3), "rot_diff": slice(3, 9), "vel_diff": slice(9, 12),
                 "ang_vel_diff": slice(12, 15), "ref_pos": slice(15, 18), "ref_rot": slice(18, 24)}
GOAL_SIZE = 24
SELF_SIZE = 1 + (NUM_JOINTS - 1) * 3 + NUM_JOINTS * (6 + 3 + 3)


class Bodies(NamedTuple):
    """World-frame state of the 24 bodies in MuJoCo order, for N envs."""

    pos: jax.Array  # (N, 24, 3)
    quat: jax.Array  # (N, 24, 4) wxyz
    lin_vel: jax.Array  # (N, 24, 3) of the body origin
    ang_vel: jax.Array  # (N, 24, 3)


def sim_bodies(data: PhysicsState) -> Bodies:
    """Bodies of a batched physics state (after kinematics)."""
    ang_vel = data.cvel[:, 1:, :3]
    pos = data.xpos[:, 1:]
    # cvel's linear part is the velocity of the point at the root's subtree centre of mass.
    lin_vel = data.cvel[:, 1:, 3:] + jnp.cross(ang_vel, pos - data.subtree_com[:, 1:2])
    return Bodies(pos, data.xquat[:, 1:], lin_vel, ang_vel)


def ref_bodies(frame: MotionFrame) -> Bodies:
    return Bodies(frame.body_pos, frame.body_quat, frame.body_lin_vel, frame.body_ang_vel)


def scan_points(cfg: ObsConfig) -> np.ndarray:
    """(S, 2) scan offsets in the heading frame, x forward then y left."""
    nx, ny = (int(round(e / cfg.scan_spacing)) + 1 for e in cfg.scan_extent)
    x = np.linspace(-cfg.scan_extent[0] / 2, cfg.scan_extent[0] / 2, nx)
    y = np.linspace(-cfg.scan_extent[1] / 2, cfg.scan_extent[1] / 2, ny)
    return np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.float32)


def obs_layout(cfg: ObsConfig) -> dict[str, slice]:
    """Name → slice of the flat observation (actor and critic alike)."""
    sizes = {"root_height": 1, "body_pos": (NUM_JOINTS - 1) * 3, "body_rot": NUM_JOINTS * 6,
             "body_lin_vel": NUM_JOINTS * 3, "body_ang_vel": NUM_JOINTS * 3,
             "goal": NUM_JOINTS * GOAL_SIZE, "goal_mask": NUM_JOINTS, "height_scan": len(scan_points(cfg))}
    layout, start = {}, 0
    for name, size in sizes.items():
        layout[name] = slice(start, start + size)
        start += size
    return layout


def mirror_map(cfg: ObsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(index (O,), sign (O,)) such that `obs[..., index] * sign` is the observation of the left–right
    mirrored state and goal (body/mirror.py), for the actor's and the critic's layout alike; the
    height scan's grid is symmetric in y, so its mirror is a permutation of its points."""
    layout, parts = obs_layout(cfg), []

    def per_body(name: str, swap: np.ndarray, rule: np.ndarray) -> None:
        width = len(rule)
        index = layout[name].start + swap[:, None] * width + np.arange(width)
        parts.append((index.ravel(), np.tile(rule, len(swap))))

    goal_rule = np.zeros(GOAL_SIZE)
    for feature, rule in (("pos_diff", VECTOR), ("rot_diff", TAN_NORM), ("vel_diff", VECTOR),
                          ("ang_vel_diff", AXIAL), ("ref_pos", VECTOR), ("ref_rot", TAN_NORM)):
        goal_rule[GOAL_FEATURES[feature]] = rule
    parts.append((np.array([layout["root_height"].start]), np.ones(1)))
    per_body("body_pos", BODY_SWAP[1:] - 1, VECTOR)  # the root's own position is not observed
    per_body("body_rot", BODY_SWAP, TAN_NORM)
    per_body("body_lin_vel", BODY_SWAP, VECTOR)
    per_body("body_ang_vel", BODY_SWAP, AXIAL)
    per_body("goal", BODY_SWAP, goal_rule)
    per_body("goal_mask", BODY_SWAP, np.ones(1))
    points = scan_points(cfg)  # (S, 2): each point's mirror (x, −y) is another point of the grid
    flipped = np.abs(points[:, None] - points[None] * np.array([1.0, -1.0])).sum(-1).argmin(0)
    parts.append((layout["height_scan"].start + flipped, np.ones(len(points))))
    index, sign = (np.concatenate(p) for p in zip(*parts))
    return index, sign.astype(np.float32)


def as_ranges(slices: dict[str, slice]) -> dict[str, list[int]]:
    """{name: [start, stop]}: a layout as plain lists (checkpoints, ONNX metadata)."""
    return {k: [v.start, v.stop] for k, v in slices.items()}


def goal_masks() -> np.ndarray:
    """(3, 24, 24) feature masks for MODES; row b is body b (MuJoCo order), columns GOAL_FEATURES."""
    masks = np.zeros((len(MODES), NUM_JOINTS, GOAL_SIZE), dtype=np.float32)
    masks[0] = 1.0
    positions = np.zeros(GOAL_SIZE, dtype=np.float32)
    positions[GOAL_FEATURES["pos_diff"]] = positions[GOAL_FEATURES["ref_pos"]] = 1.0
    for mode, bodies in ((1, ("Pelvis", "L_Wrist", "R_Wrist")), (2, ("Pelvis",))):
        for name in bodies:
            masks[mode, MUJOCO_BODY_NAMES.index(name)] = positions
    return masks


def heading_quat(root_quat: jax.Array) -> jax.Array:
    """(N, 4) → (N, 4) yaw-only rotation of the root."""
    return yaw_quat(heading(root_quat))


def self_obs(terrain: Terrain, body: Bodies) -> jax.Array:
    """(N, 358): root height above the ground, then bodies relative to the root in its heading frame."""
    n = body.pos.shape[0]
    inv = quat_conj(heading_quat(body.quat[:, 0]))[:, None]  # (N, 1, 4)
    root_height = body.pos[:, 0, 2] - height_at(terrain, body.pos[:, 0, :2])
    rel_pos = quat_rotate(inv, body.pos[:, 1:] - body.pos[:, :1])
    parts = [root_height[:, None], rel_pos, tan_norm(quat_mul(inv, body.quat)),
             quat_rotate(inv, body.lin_vel), quat_rotate(inv, body.ang_vel)]
    return jnp.concatenate([p.reshape(n, -1) for p in parts], axis=-1)


def goal_obs(body: Bodies, ref: Bodies) -> jax.Array:
    """(N, 24, 24): per body the differences to the reference and the reference itself (GOAL_FEATURES)."""
    h = heading_quat(body.quat[:, 0])[:, None]
    inv = quat_conj(h)
    rot_diff = quat_mul(quat_mul(inv, quat_mul(ref.quat, quat_conj(body.quat))), h)
    return jnp.concatenate([
        quat_rotate(inv, ref.pos - body.pos),
        tan_norm(rot_diff),
        quat_rotate(inv, ref.lin_vel - body.lin_vel),
        quat_rotate(inv, ref.ang_vel - body.ang_vel),
        quat_rotate(inv, ref.pos - body.pos[:, :1]),
        tan_norm(quat_mul(inv, ref.quat)),
    ], axis=-1)


def height_scan(terrain: Terrain, points: jax.Array, root_pos: jax.Array, root_quat: jax.Array) -> jax.Array:
    """(N, S) ground height at `points` (S, 2) in the heading frame, relative to the ground under the root."""
    yaw = heading(root_quat)[:, None]
    cos, sin = jnp.cos(yaw), jnp.sin(yaw)
    x = root_pos[:, None, 0] + cos * points[:, 0] - sin * points[:, 1]
    y = root_pos[:, None, 1] + sin * points[:, 0] + cos * points[:, 1]
    return height_at(terrain, jnp.stack([x, y], axis=-1)) - height_at(terrain, root_pos[:, None, :2])


def observe(terrain: Terrain, points: jax.Array, masks: jax.Array, mode: jax.Array,
            body: Bodies, ref: Bodies, actor_scan: bool = True) -> tuple[jax.Array, jax.Array]:
    """(actor, critic) observations (N, O); `mode` (N,) indexes MODES; `ref` is the next frame's goal;
    without `actor_scan` the actor's height scan is zeros."""
    n = body.pos.shape[0]
    own = self_obs(terrain, body)
    goal = goal_obs(body, ref)
    mask = masks[mode]  # (N, 24, 24)
    flags = mask.max(axis=-1)
    scan = height_scan(terrain, points, body.pos[:, 0], body.quat[:, 0])
    actor_scan = scan if actor_scan else jnp.zeros_like(scan)
    actor = jnp.concatenate([own, (goal * mask).reshape(n, -1), flags, actor_scan], axis=-1)
    critic = jnp.concatenate([own, goal.reshape(n, -1), flags, scan], axis=-1)
    return actor, critic
