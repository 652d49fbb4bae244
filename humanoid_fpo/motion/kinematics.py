"""MuJoCo kinematics over whole trajectories (CPU, float64): what the library stores is computed
here, so reference and simulation agree by construction."""

from __future__ import annotations

import mujoco
import numpy as np


def trajectory_qvel(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> np.ndarray:
    """(T, nv) joint velocities by central differences on the configuration manifold
    (one-sided at the ends); qpos: (T, nq)."""
    t = qpos.shape[0]
    qvel = np.zeros((t, model.nv))
    if t < 2:
        return qvel
    for i in range(t):
        a, b = max(i - 1, 0), min(i + 1, t - 1)
        mujoco.mj_differentiatePos(model, qvel[i], (b - a) / fps, qpos[a], qpos[b])
    return qvel


def body_states(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray) -> dict[str, np.ndarray]:
    """World-frame states of every body but the world, in MuJoCo body order.

    qpos: (T, nq), qvel: (T, nv). Returns `pos` (T, B, 3), `quat` (T, B, 4) wxyz, `lin_vel` and
    `ang_vel` (T, B, 3): velocity of the body origin and angular velocity, both in world axes.
    """
    data = mujoco.MjData(model)
    t, nb = qpos.shape[0], model.nbody - 1
    out = {k: np.zeros((t, nb, 4 if k == "quat" else 3)) for k in ("pos", "quat", "lin_vel", "ang_vel")}
    root = model.body_rootid[1:]
    for i in range(t):
        data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_comVel(model, data)
        out["pos"][i], out["quat"][i] = data.xpos[1:], data.xquat[1:]
        # cvel is each body's [angular; linear] velocity at its tree's centre of mass: moved to the body's
        # centre of mass as mj_objectVelocity does (the same arithmetic), then to its origin
        ang = data.cvel[1:, :3]
        at_com = data.cvel[1:, 3:] - np.cross(data.xipos[1:] - data.subtree_com[root], ang)
        out["ang_vel"][i] = ang
        out["lin_vel"][i] = at_com + np.cross(ang, data.xpos[1:] - data.xipos[1:])
    return out


def _geom_bottom(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> float:
    """Lowest world z of geom g (box, capsule or sphere) at the current kinematics."""
    z, rot, size = data.geom_xpos[g][2], data.geom_xmat[g].reshape(3, 3), model.geom_size[g]
    kind = model.geom_type[g]
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return z - float(np.abs(rot[2]) @ size)
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return z - abs(rot[2, 2]) * size[1] - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return z - size[0]
    raise ValueError(f"geom {model.geom(g).name!r}: unsupported type {kind} for a bottom point")


def lowest_points(model: mujoco.MjModel, qpos: np.ndarray,
                  body_groups: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """For each group of bodies (e.g. a foot = ankle + toe): the lowest geom point's z (T, G)
    and the world position of the group's first body (T, G, 3), whose motion tells stance."""
    data = mujoco.MjData(model)
    groups = list(body_groups.values())
    geoms = [[g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name in bodies]
             for bodies in groups]
    anchor_ids = [model.body(bodies[0]).id for bodies in groups]
    low, anchors = np.zeros((qpos.shape[0], len(groups))), np.zeros((qpos.shape[0], len(groups), 3))
    for i in range(qpos.shape[0]):
        data.qpos[:] = qpos[i]
        mujoco.mj_kinematics(model, data)
        low[i] = [min(_geom_bottom(model, data, g) for g in gs) for gs in geoms]
        anchors[i] = data.xpos[anchor_ids]
    return low, anchors
