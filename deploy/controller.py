"""The robot-side controller: an exported policy.onnx, its metadata, and the observation it needs.

numpy + onnxruntime only (nothing from humanoid_fpo): this file ships to the robot.

    controller = Controller("policy.onnx")               # mode: the policy's conditioning
    targets, action = controller.act(qpos, qvel, goal)   # goal: the reference frame one step ahead

Bad inputs. `act` checks every input's shape and that it is finite; one that is not raises
`SensorError` (a ValueError) naming it: "qpos must have shape (76,), got (70,)", "qvel holds NaN
or inf at indices [3, 4]". On a robot, `Controller(path, on_bad_input="hold")` instead returns
the last good PD targets and actions (before any good step: action 0, whose targets are the
metadata's `action_offset`) and keeps the refusal in `controller.last_error`, None after a step
that acted on its inputs. A batch is refused, and held, as a whole.

Conventions (DESIGN.md): world z-up, wxyz quaternions, bodies in MuJoCo order (the metadata's
body_names). qpos (nq = 7 + J): root position (3), root quaternion (4), J hinge angles; qvel
(nv = 6 + J): root linear velocity in the world frame (3), root angular velocity in the root
body's frame (3), J hinge rates: MuJoCo's free-joint convention. The observation rebuilt here is
`humanoid_fpo/sim/observations.py: observe` (actor side) in float64.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort

METADATA_FORMAT = "1"
ON_BAD_INPUT = ("raise", "hold")
_KEYS = ("format", "policy", "flow_steps", "noise_std", "joint_names", "body_names", "kp", "kd",
         "action_offset", "action_scale", "obs_layout", "goal_features", "goal_masks", "conditioning",
         "scan_points", "control_dt", "physics_dt", "protocol_bodies", "kinematics", "mjcf")


class SensorError(ValueError):
    """An input of the controller that is wrongly shaped or not finite; the message names it."""


def checked(name: str, value: np.ndarray | float, *shapes: tuple[int, ...]) -> np.ndarray:
    """`value` as a float64 array of one of `shapes`; otherwise, or if it holds NaN or inf, a
    SensorError naming `name`, the expected shape(s) and the bad indices."""
    expected = " or ".join(str(s) for s in dict.fromkeys(shapes))
    try:
        array = np.asarray(value, float)
    except (TypeError, ValueError):
        raise SensorError(f"{name} must be a numeric array of shape {expected}") from None
    if array.shape not in shapes:
        raise SensorError(f"{name} must have shape {expected}, got {array.shape}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        where = (bad[:, 0] if array.ndim == 1 else bad)[:8].tolist()
        raise SensorError(f"{name} holds NaN or inf at indices {where}{' ...' if len(bad) > 8 else ''}")
    return array


# --- quaternions (wxyz), broadcasting over leading dimensions -----------------------------------

def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b of (..., 4) quaternions."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors by unit quaternions (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def axis_angle_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Unit axis (3,) and angles (...) → (..., 4) rotations."""
    half = np.asarray(angle)[..., None] / 2
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def yaw_quat(yaw: np.ndarray) -> np.ndarray:
    """(...) angles about world z → (..., 4)."""
    zero = np.zeros_like(yaw)
    return np.stack([np.cos(yaw / 2), zero, zero, np.sin(yaw / 2)], axis=-1)


def heading(q: np.ndarray) -> np.ndarray:
    """(..., 4) → (...) yaw of the body's x axis (forward) projected on the ground."""
    forward = quat_rotate(q, np.broadcast_to([1.0, 0.0, 0.0], q.shape[:-1] + (3,)))
    return np.arctan2(forward[..., 1], forward[..., 0])


def tan_norm(q: np.ndarray) -> np.ndarray:
    """(..., 4) → (..., 6): the rotated x axis (tangent) and z axis (normal)."""
    ex = np.broadcast_to([1.0, 0.0, 0.0], q.shape[:-1] + (3,))
    ez = np.broadcast_to([0.0, 0.0, 1.0], q.shape[:-1] + (3,))
    return np.concatenate([quat_rotate(q, ex), quat_rotate(q, ez)], axis=-1)


# --- metadata ----------------------------------------------------------------------------------

class Kinematics(NamedTuple):
    """The humanoid's kinematic tree: B bodies (MuJoCo order, world excluded), J hinges."""

    parent: np.ndarray  # (B,) int, index of the parent body, -1 for the root
    body_pos: np.ndarray  # (B, 3) m, body origin in the parent's frame
    body_quat: np.ndarray  # (B, 4) wxyz, body frame in the parent's frame
    joint_axis: np.ndarray  # (J, 3) hinge axis in its body's frame
    joint_body: np.ndarray  # (J,) int, the body each hinge moves


@dataclass(frozen=True)
class Metadata:
    """What `humanoid_fpo.export.deploy_metadata` stores, parsed (see that function for the keys)."""

    policy: str
    flow_steps: int
    noise_std: float
    joint_names: tuple[str, ...]  # (J,) actuators = qpos[7:] order
    body_names: tuple[str, ...]  # (B,)
    kp: np.ndarray  # (J,)
    kd: np.ndarray  # (J,)
    action_offset: np.ndarray  # (J,) rad, PD target at action 0
    action_scale: np.ndarray  # (J,) rad per unit action
    obs_layout: dict[str, slice]
    goal_features: dict[str, slice]  # within one body's goal columns
    goal_masks: dict[str, np.ndarray]  # mode → (B, G) feature mask
    conditioning: str  # the default mode
    scan_points: np.ndarray  # (S, 2) m, heading frame
    control_dt: float
    physics_dt: float
    protocol_bodies: np.ndarray  # (20,) int
    kinematics: Kinematics
    mjcf: str

    @property
    def obs_size(self) -> int:
        return max(s.stop for s in self.obs_layout.values())

    @property
    def action_size(self) -> int:
        return len(self.joint_names)

    @property
    def decimation(self) -> int:
        return round(self.control_dt / self.physics_dt)

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.goal_masks)

    def targets(self, action: np.ndarray) -> np.ndarray:
        """(..., J) actions → PD targets offset + scale · clip(a, −1, 1)."""
        return self.action_offset + self.action_scale * np.clip(action, -1.0, 1.0)


def parse_metadata(props: dict[str, str], path: str | Path) -> Metadata:
    """Metadata from an ONNX model's metadata_props; a model without it raises ValueError naming `path`."""
    if "format" not in props:
        raise ValueError(f"{path} has no humanoid_fpo metadata; export it with `humanoid-fpo export`")
    if props["format"] != METADATA_FORMAT:
        raise ValueError(f"{path}: metadata format {props['format']!r}, this controller reads "
                         f"{METADATA_FORMAT!r}; export it again with `humanoid-fpo export`")
    missing = [k for k in _KEYS if k not in props]
    if missing:
        raise ValueError(f"{path}: humanoid_fpo metadata lacks {', '.join(missing)}; "
                         f"export it again with `humanoid-fpo export`")
    m = {k: props[k] if k in ("policy", "conditioning", "mjcf") else _json(props, k, path) for k in _KEYS}
    kin = m["kinematics"]
    return Metadata(
        policy=m["policy"], flow_steps=int(m["flow_steps"]), noise_std=float(m["noise_std"]),
        joint_names=tuple(m["joint_names"]), body_names=tuple(m["body_names"]),
        kp=np.asarray(m["kp"], float), kd=np.asarray(m["kd"], float),
        action_offset=np.asarray(m["action_offset"], float),
        action_scale=np.asarray(m["action_scale"], float),
        obs_layout={k: slice(*v) for k, v in m["obs_layout"].items()},
        goal_features={k: slice(*v) for k, v in m["goal_features"].items()},
        goal_masks={k: np.asarray(v, float) for k, v in m["goal_masks"].items()},
        conditioning=m["conditioning"], scan_points=np.asarray(m["scan_points"], float),
        control_dt=float(m["control_dt"]), physics_dt=float(m["physics_dt"]),
        protocol_bodies=np.asarray(m["protocol_bodies"], int),
        kinematics=Kinematics(np.asarray(kin["parent"], int), np.asarray(kin["body_pos"], float),
                              np.asarray(kin["body_quat"], float), np.asarray(kin["joint_axis"], float),
                              np.asarray(kin["joint_body"], int)),
        mjcf=m["mjcf"])


def _json(props: dict[str, str], key: str, path: str | Path):
    """The JSON value of metadata `key`; damaged JSON raises ValueError naming the file and the key."""
    try:
        return json.loads(props[key])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata {key!r} is damaged ({e.msg} at character {e.pos}); "
                         f"export it again with `humanoid-fpo export`") from None


# --- kinematics and observation ----------------------------------------------------------------

class Bodies(NamedTuple):
    """World-frame state of the B bodies (MuJoCo order) over leading dims (...): the robot's, or a
    reference frame's (the goal)."""

    pos: np.ndarray  # (..., B, 3) m
    quat: np.ndarray  # (..., B, 4) wxyz
    lin_vel: np.ndarray  # (..., B, 3) m/s, of the body origin
    ang_vel: np.ndarray  # (..., B, 3) rad/s


def forward_kinematics(kin: Kinematics, qpos: np.ndarray, qvel: np.ndarray) -> Bodies:
    """Bodies of qpos (..., 7 + J), qvel (..., 6 + J); the hinges sit at their bodies' origins.

    Body quat = parent quat ⊗ body_quat ⊗ its hinge rotations (joint order); body position =
    parent position + R_parent · body_pos; angular velocity = parent's + Σ world hinge axis · q̇;
    origin velocity = parent's + ω_parent × (p − p_parent). MuJoCo's xpos, xquat and cvel agree.
    A state of another shape, or holding NaN or inf, raises SensorError.
    """
    nj = len(kin.joint_axis)
    lead = np.shape(qpos)[:-1]
    qpos, qvel = checked("qpos", qpos, lead + (7 + nj,)), checked("qvel", qvel, lead + (6 + nj,))
    pos, quat, lin, ang = [], [], [], []
    for b, parent in enumerate(kin.parent):
        if parent < 0:  # the free root: its state is qpos/qvel itself
            q = qpos[..., 3:7] / _root_quat_norm(qpos)
            p, v, w = qpos[..., :3], qvel[..., :3], quat_rotate(q, qvel[..., 3:6])
        else:
            p = pos[parent] + quat_rotate(quat[parent], kin.body_pos[b])
            q = quat_mul(quat[parent], kin.body_quat[b])
            v = lin[parent] + np.cross(ang[parent], p - pos[parent])
            w = ang[parent]
            for j in np.flatnonzero(kin.joint_body == b):
                w = w + quat_rotate(q, kin.joint_axis[j]) * qvel[..., 6 + j, None]
                q = quat_mul(q, axis_angle_quat(kin.joint_axis[j], qpos[..., 7 + j]))
        pos.append(p), quat.append(q), lin.append(v), ang.append(w)
    return Bodies(*(np.stack(x, axis=-2) for x in (pos, quat, lin, ang)))


def _root_quat_norm(qpos: np.ndarray) -> np.ndarray:
    """(..., 1) length of the root quaternion qpos[..., 3:7]; zero raises SensorError."""
    norm = np.linalg.norm(qpos[..., 3:7], axis=-1, keepdims=True)
    if (norm == 0).any():
        raise SensorError("qpos[3:7], the root quaternion, is zero")
    return norm


def self_obs(body: Bodies, ground_height: float | np.ndarray = 0.0) -> np.ndarray:
    """(..., 1 + (B−1)·3 + B·12): root height above the ground, then bodies relative to the root in
    its heading frame (positions, tan-norm rotations, linear and angular velocities)."""
    inv = quat_conj(yaw_quat(heading(body.quat[..., 0, :])))[..., None, :]  # (..., 1, 4)
    lead = body.pos.shape[:-2]
    root = body.pos[..., :1, :]
    parts = [(root[..., 0, 2] - ground_height)[..., None], quat_rotate(inv, body.pos[..., 1:, :] - root),
             tan_norm(quat_mul(inv, body.quat)),
             quat_rotate(inv, body.lin_vel), quat_rotate(inv, body.ang_vel)]
    return np.concatenate([x.reshape(*lead, -1) for x in parts], axis=-1)


def goal_obs(body: Bodies, ref: Bodies) -> np.ndarray:
    """(..., B, 24): per body the differences to the reference and the reference itself, in the
    heading frame (pos_diff, rot_diff, vel_diff, ang_vel_diff, ref_pos, ref_rot)."""
    h = yaw_quat(heading(body.quat[..., 0, :]))[..., None, :]
    inv = quat_conj(h)
    rot_diff = quat_mul(quat_mul(inv, quat_mul(ref.quat, quat_conj(body.quat))), h)
    return np.concatenate([
        quat_rotate(inv, ref.pos - body.pos),
        tan_norm(rot_diff),
        quat_rotate(inv, ref.lin_vel - body.lin_vel),
        quat_rotate(inv, ref.ang_vel - body.ang_vel),
        quat_rotate(inv, ref.pos - body.pos[..., :1, :]),
        tan_norm(quat_mul(inv, ref.quat)),
    ], axis=-1)


def observe(meta: Metadata, body: Bodies, ref: Bodies, mode: str | None = None,
            ground_height: float | np.ndarray = 0.0, scan: np.ndarray | None = None) -> np.ndarray:
    """(..., O) actor observation: [self | goal masked by `mode` | per-body mask flags | height scan].

    body: the robot's bodies (forward_kinematics); ref: the reference frame one control step ahead,
    in the robot's world. ground_height (...): the ground under the root (flat ground at 0 by
    default); scan (..., S): ground heights at meta.scan_points relative to the ground under the
    root (zeros: flat ground). A `ref`, ground_height or scan of another shape than these, or
    holding NaN or inf, raises SensorError naming it.
    """
    mask = meta.goal_masks[_mode(meta, mode)]  # (B, G)
    lead = body.pos.shape[:-2]
    ref = checked_goal(ref, lead, len(meta.body_names))
    ground_height = checked("ground_height", ground_height, (), lead)
    num_scan = len(meta.scan_points)
    scan = np.zeros(num_scan) if scan is None else checked("scan", scan, (num_scan,), lead + (num_scan,))
    goal = goal_obs(body, ref) * mask
    obs = np.concatenate([self_obs(body, ground_height), goal.reshape(*lead, -1),
                          np.broadcast_to(mask.max(axis=-1), lead + mask.shape[:1]),
                          np.broadcast_to(scan, lead + (num_scan,))], axis=-1)
    if obs.shape[-1] != meta.obs_size:  # only inconsistent metadata gets here: the inputs are checked
        raise ValueError(f"the metadata lays out {meta.obs_size} observations, its kinematic tree and "
                         f"goal masks give {obs.shape[-1]}; export the policy again")
    return obs


def checked_goal(goal: Bodies, lead: tuple[int, ...], num_bodies: int) -> Bodies:
    """`goal` as float64 Bodies of (*lead, B, ·) arrays, B = `num_bodies`; a field of another
    shape, or holding NaN or inf, raises SensorError naming it (goal.pos, goal.quat, ...)."""
    widths = {"pos": 3, "quat": 4, "lin_vel": 3, "ang_vel": 3}
    return Bodies(*(checked(f"goal.{name}", getattr(goal, name), lead + (num_bodies, width))
                    for name, width in widths.items()))


def _mode(meta: Metadata, mode: str | None) -> str:
    mode = mode or meta.conditioning
    if mode not in meta.goal_masks:
        raise ValueError(f"unknown conditioning mode {mode!r}; choose from {', '.join(meta.modes)}")
    return mode


# --- policy and controller ---------------------------------------------------------------------

class Policy:
    """policy.onnx: raw observations (N, O) [and x0 (1 | N, A)] → actions (N, A)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such policy file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # the optional x0 initializer draws a warning
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: not a readable ONNX model ({e})") from None
        self.path = path
        outputs = [o.name for o in self.session.get_outputs()]
        if outputs != ["action"]:
            inputs = ", ".join(i.name for i in self.session.get_inputs())
            raise ValueError(f"{path}: not a policy (inputs {inputs}, outputs {', '.join(outputs)}; a policy "
                             f"maps obs to action): pass the policy.onnx of the same export, not velocity.onnx")
        self.meta = parse_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        width = self.session.get_inputs()[0].shape[-1]
        if width != self.meta.obs_size:
            raise ValueError(f"{path}: the network takes {width} observations, its metadata lays out "
                             f"{self.meta.obs_size}")

    def __call__(self, obs: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
        """Actions (N, A) for observations (N, O); x0 (1 | N, A) the sampler's start (default 0)."""
        feed = {"obs": np.asarray(obs, np.float32)}
        if x0 is not None:
            feed["x0"] = np.asarray(x0, np.float32).reshape(-1, self.meta.action_size)
        return self.session.run(["action"], feed)[0]


class Controller:
    """Observation → policy → PD targets, for one robot or a batch.

    on_bad_input: "raise" (a SensorError from `act`) or "hold" (the last good targets; see the
    module docstring). `last_error`: None after a step that acted on its inputs, else the
    SensorError of the refused step."""

    def __init__(self, path: str | Path, mode: str | None = None, on_bad_input: str = "raise"):
        if on_bad_input not in ON_BAD_INPUT:
            raise ValueError(f"on_bad_input must be one of {', '.join(ON_BAD_INPUT)}, got {on_bad_input!r}")
        self.policy = Policy(path)
        self.meta = self.policy.meta
        self.mode = _mode(self.meta, mode)
        self.on_bad_input = on_bad_input
        self.last_error: SensorError | None = None
        self._last_good: tuple[np.ndarray, np.ndarray] | None = None  # targets, action

    def observe(self, qpos: np.ndarray, qvel: np.ndarray, goal: Bodies,
                ground_height: float | np.ndarray = 0.0, scan: np.ndarray | None = None) -> np.ndarray:
        """(..., O) observation of the state qpos (..., nq), qvel (..., nv) against `goal`."""
        body = forward_kinematics(self.meta.kinematics, qpos, qvel)
        return observe(self.meta, body, goal, self.mode, ground_height, scan)

    def act(self, qpos: np.ndarray, qvel: np.ndarray, goal: Bodies, x0: np.ndarray | None = None,
            ground_height: float | np.ndarray = 0.0,
            scan: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """PD targets (..., J) and raw actions (..., J) for the state qpos (..., nq), qvel (..., nv).

        goal: the reference frame one control step ahead (Bodies with (..., B, ·) arrays, world
        frame); x0 (J,) or (..., J): the flow sampler's start, default 0 (deterministic). An input
        of another shape or holding NaN or inf raises SensorError, or with on_bad_input="hold"
        returns the last good targets and actions and sets `last_error`.
        """
        try:
            obs = self._checked_obs(qpos, qvel, goal, ground_height, scan)
            if x0 is not None:
                x0 = checked("x0", x0, (self.meta.action_size,), obs.shape[:-1] + (self.meta.action_size,))
        except SensorError as e:
            self.last_error = e
            if self.on_bad_input == "raise":
                raise
            return self._hold(np.shape(qpos)[:-1])
        lead = obs.shape[:-1]
        action = self.policy(obs.reshape(-1, obs.shape[-1]), x0).astype(float).reshape(*lead, -1)
        self.last_error, self._last_good = None, (self.meta.targets(action), action)
        return self._last_good[0].copy(), action.copy()

    def _checked_obs(self, qpos: np.ndarray, qvel: np.ndarray, goal: Bodies,
                     ground_height: float | np.ndarray, scan: np.ndarray | None) -> np.ndarray:
        """`observe`, and a SensorError where finite inputs still give a non-finite observation."""
        obs = self.observe(qpos, qvel, goal, ground_height, scan)
        if not np.isfinite(obs).all():
            raise SensorError("the observation holds NaN or inf though every input is finite (values "
                              "too large?)")
        return obs

    def _hold(self, lead: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the last good targets and actions; before any, action 0 over `lead`."""
        if self._last_good is None:
            action = np.zeros(lead + (self.meta.action_size,))
            return self.meta.targets(action), action
        return self._last_good[0].copy(), self._last_good[1].copy()
