"""Synthesise the project's built-in motion clips as AMASS-style SMPL npz files.

Clips (30 fps, no third-party data): `stand` (quiet standing: sway and one breath), `walk`
(straight walk at 1.2 m/s), `turn` (stepping in place through a 180 degree left turn) and
`squat` (two squats). All start and end in the same standing pose.

Each clip is built in the humanoid frame (x forward, y left, z up):
1. a footstep plan gives both feet's world trajectories (a stance foot does not move; a swing
   lifts the toe joint, pitches the heel up about it and sets the foot down flat);
2. a reference zero-moment point rolls along the stance feet and moves between them during
   double support; the centre of mass follows it as a linear inverted pendulum;
3. the upper body is set from anatomical angles, the pelvis gets an orientation, a height (the
   highest, smoothed, at which both legs reach their ankles with some knee flexion) and the
   horizontal place that puts the body's centre of mass on that path;
4. the legs follow by analytic IK (hip yaw given by the foot's heading), the ankles put the
   feet at their planned orientation.
The result is written as SMPL `poses` (axis-angle) and `trans` in a Z-up world and summarised
(ground contact, foot slip); tests/test_retarget.py checks the clips retarget exactly.

Run from the repository root: `.venv/bin/python tools/make_builtin_motions.py`; clips go to
`motions/<name>.npz`. To look at them: `humanoid-fpo retarget motions -o m.npz` then
`humanoid-fpo motions render m.npz --clip walk -o walk.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from scipy.spatial.transform import Rotation

from humanoid_fpo.body.skeleton import (
    JOINT_NAMES, NUM_JOINTS, SMPL_TO_HUMANOID, Skeleton, forward_kinematics, mean_shape,
)

FPS = 30
OUT_DIR = Path(__file__).resolve().parent.parent / "motions"
SOLE = 0.075                    # ankle joint height above the humanoid's sole when the foot is flat
KNEE_MIN = np.deg2rad(5.0)      # least knee flexion the pelvis height leaves the legs
KNEE_STEPPING = np.deg2rad(15.0)  # the same while stepping: a straight knee would whip at landing
HEIGHT_SMOOTH = (3.0, 8)        # frames: pelvis height smoothing, overshoot envelope half-width
ARM_DOWN = np.deg2rad(75.0)     # shoulder rotation from the T-pose to arms hanging at the sides
ELBOW_REST = np.deg2rad(12.0)   # relaxed elbow flexion
COM_AHEAD = 0.04                # m: centre of mass (and ZMP) ahead of the ankles when standing
COM_HEIGHT = 1.0                # m: standing centre-of-mass height, for the inverted pendulum
ROLL = (0.0, 0.14)              # m: ZMP ahead of a stance ankle at touch-down and at lift-off
SETTLE = 0.4                    # s: weight shift before a first lift-off and after a last landing
HOLD = 0.5                      # s: at a clip's ends the centre of mass is held over the ZMP
BALANCE_ITERATIONS = 6
WALK_STEP = (0.45, 0.4)         # s: step period and swing time of the walk
SQUAT_DROP = 0.26               # m: pelvis drop at the bottom of a squat
J = {name: i for i, name in enumerate(JOINT_NAMES)}
SIDES = ("L", "R")              # foot index 0 is the left foot, 1 the right
# Body segments for the centre of mass: (joint, joint, mass fraction) with the segment's mass at
# the two joints' midpoint; fractions after Dempster's table, summing to 1.
SEGMENTS: tuple[tuple[str, str, float], ...] = (
    ("Pelvis", "Torso", 0.142), ("Spine", "Neck", 0.355), ("Head", "Head", 0.081),
    *((f"{side}_{a}", f"{side}_{b}", mass) for side in SIDES for a, b, mass in (
        ("Shoulder", "Elbow", 0.028), ("Elbow", "Wrist", 0.016), ("Hand", "Hand", 0.006),
        ("Hip", "Knee", 0.100), ("Knee", "Ankle", 0.0465), ("Ankle", "Toe", 0.0145))),
)


# --- rotations and time profiles -----------------------------------------------------------


def rot(axis: int, angle: np.ndarray | float) -> np.ndarray:
    """Right-handed rotation matrices (..., 3, 3) by `angle` radians about coordinate `axis`."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    m = np.zeros(angle.shape + (3, 3))
    m[..., axis, axis] = 1.0
    m[..., i, i] = m[..., j, j] = c
    m[..., j, i], m[..., i, j] = s, -s
    return m


def heading(r: np.ndarray) -> np.ndarray:
    """Yaw (rad) of the x axis of rotations r (..., 3, 3) about the world z axis."""
    return np.arctan2(r[..., 1, 0], r[..., 0, 0])


def min_jerk(u: np.ndarray) -> np.ndarray:
    """0 -> 1 over u in [0, 1] with zero velocity and acceleration at both ends; clamped."""
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10.0 - 15.0 * u + 6.0 * u**2)


def glide(u: np.ndarray, blend: float = 0.3) -> np.ndarray:
    """0 -> 1 over u in [0, 1] at constant speed, the speed eased in and out (min-jerk) over the
    first and last `blend` of the way; its peak speed is 1 / (1 - blend), min-jerk's 1.875."""
    def eased(s: np.ndarray) -> np.ndarray:        # integral of min_jerk from 0 to s
        c = np.clip(s, 0.0, 1.0)
        return 2.5 * c**4 - 3.0 * c**5 + c**6 + np.maximum(s - 1.0, 0.0)
    u = np.clip(u, 0.0, 1.0)
    return blend * (eased(u / blend) - eased((u - 1.0 + blend) / blend)) / (1.0 - blend)


def ramp(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Min-jerk transition from 0 (before t0) to 1 (after t1)."""
    return min_jerk((t - t0) / (t1 - t0))


def times(duration: float) -> np.ndarray:
    """Frame times of a clip lasting `duration` seconds."""
    return np.arange(round(duration * FPS) + 1) / FPS


# --- feet ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One swing of one foot: where (world xy) and with which heading its ankle lands."""

    side: int
    t_lift: float
    t_land: float
    ankle_xy: tuple[float, float]
    yaw: float


@dataclass(frozen=True)
class StepStyle:
    """How a foot swings: heel rise before lift-off, peak heel-up pitch, toe-joint lift."""

    heel_off: float
    pitch: float
    lift: float


@dataclass(frozen=True)
class Feet:
    """World trajectories of both feet: ankle (T, 2, 3), foot rotation (T, 2, 3, 3), and the
    heel-up pitch (T, 2) that the toe joint undoes so the toes stay level."""

    ankle: np.ndarray
    rot: np.ndarray
    pitch: np.ndarray


def toe_offset(sk: Skeleton, side: int) -> np.ndarray:
    """Toe joint position (3,) in its foot's frame."""
    return sk.offsets[J[f"{SIDES[side]}_Toe"]]


def toe_place(off: np.ndarray, ankle_xy: np.ndarray, yaw: float) -> np.ndarray:
    """(2,) ground position of the toe joint (offset `off`) of a flat foot at ankle_xy, yaw."""
    return np.asarray(ankle_xy) + rot(2, yaw)[:2, :2] @ off[:2]


def rest_ankles(sk: Skeleton) -> np.ndarray:
    """(2, 2) horizontal ankle positions relative to the pelvis in the standing pose."""
    rest = sk.rest_positions()
    return rest[[J["L_Ankle"], J["R_Ankle"]], :2]


def foot_tracks(
    sk: Skeleton, t: np.ndarray, start_xy: np.ndarray, start_yaw: np.ndarray,
    steps: list[Step], style: StepStyle,
) -> Feet:
    """Both feet through a footstep plan, each starting flat at start_xy (2, 2), start_yaw (2,).

    A step pivots the foot on its toe joint from `heel_off` s before lift-off, lifts the toe
    joint, carries it and the heading to the next placement (`glide`, within the middle 90 % of
    the swing so the foot leaves and lands vertically), lowers the heel again by 75 % of the
    swing and sets the foot down flat.
    """
    n = len(t)
    ankle, rot_, pitch = np.empty((n, 2, 3)), np.empty((n, 2, 3, 3)), np.empty((n, 2))
    for side in (0, 1):
        off = toe_offset(sk, side)
        prev_toe, prev_yaw = toe_place(off, start_xy[side], start_yaw[side]), start_yaw[side]
        toe = np.tile(np.append(prev_toe, SOLE + off[2]), (n, 1))
        yaw, pitch[:, side] = np.full(n, prev_yaw), 0.0
        for s in (s for s in steps if s.side == side):
            swing = s.t_land - s.t_lift
            carry = glide((t - s.t_lift - 0.05 * swing) / (0.9 * swing))
            new_toe = toe_place(off, s.ankle_xy, s.yaw)
            toe[:, :2] += carry[:, None] * (new_toe - prev_toe)
            toe[:, 2] += style.lift * (ramp(t, s.t_lift, s.t_lift + 0.4 * swing)
                                       - ramp(t, s.t_land - 0.4 * swing, s.t_land))
            yaw += carry * (s.yaw - prev_yaw)
            t_peak, t_flat = s.t_lift + 0.25 * swing, s.t_lift + 0.75 * swing
            pitch[:, side] += style.pitch * (
                ramp(t, s.t_lift - style.heel_off, t_peak) - ramp(t, t_peak, t_flat))
            prev_toe, prev_yaw = new_toe, s.yaw
        rot_[:, side] = rot(2, yaw) @ rot(1, pitch[:, side])
        ankle[:, side] = toe - rot_[:, side] @ off
    return Feet(ankle, rot_, pitch)


def standing_feet(sk: Skeleton, t: np.ndarray) -> Feet:
    """Both feet flat at the standing pose's places for the whole clip (pelvis at the origin)."""
    return foot_tracks(sk, t, rest_ankles(sk), np.zeros(2), [], StepStyle(0.0, 0.0, 0.0))


def stepping(t: np.ndarray, steps: list[Step]) -> np.ndarray:
    """(T,) 0 standing, 1 from the first lift-off to the last touch-down, eased over SETTLE s."""
    return ramp(t, steps[0].t_lift - SETTLE, steps[0].t_lift) * (
        1.0 - ramp(t, steps[-1].t_land, steps[-1].t_land + SETTLE))


def left_share(t: np.ndarray, steps: list[Step], settle: float) -> np.ndarray:
    """(T,) share of the body weight on the left foot: 1/2 standing, 1 while the right foot
    swings, 0 while the left does. It moves during double support, and over `settle` s before
    the first lift-off and after the last touch-down."""
    share, level, t_from = np.full_like(t, 0.5), 0.5, None
    for s in steps:
        new = 1.0 if s.side == 1 else 0.0
        share += (new - level) * ramp(t, s.t_lift - settle if t_from is None else t_from, s.t_lift)
        level, t_from = new, s.t_land
    if steps:
        share += (0.5 - level) * ramp(t, t_from, t_from + settle)
    return share


def zmp_path(sk: Skeleton, feet: Feet, t: np.ndarray, steps: list[Step]) -> np.ndarray:
    """(T, 2) reference zero-moment point: under each foot a point on its sole's midline that
    rolls from ROLL[0] ahead of the ankle at touch-down to ROLL[1] at lift-off (COM_AHEAD while
    standing, SETTLE s before the first lift-off and after the last touch-down), the two
    weighted by the share of the weight each foot carries. A foot's place is found from its toe
    joint, which stays put through the whole stance."""
    share_left = left_share(t, steps, SETTLE)
    walking = [(steps[0].t_lift - SETTLE, steps[-1].t_land + SETTLE)] if steps else []
    centres = []
    for side in (0, 1):
        knots = [(t[0], COM_AHEAD)] + [(start, COM_AHEAD) for start, _ in walking]
        for s in (s for s in steps if s.side == side):
            knots += [(s.t_lift, ROLL[1]), (s.t_land, ROLL[0])]
        knots += [(end, COM_AHEAD) for _, end in walking] + [(t[-1], COM_AHEAD)]
        ahead = np.interp(t, *zip(*knots))
        off = toe_offset(sk, side)
        toe = feet.ankle[:, side] + feet.rot[:, side] @ off
        yaw_rot = rot(2, heading(feet.rot[:, side]))[:, :2, :2]
        centres.append(toe[:, :2] + yaw_rot @ -off[:2] + ahead[:, None] * yaw_rot[:, :, 0])
    return share_left[:, None] * centres[0] + (1.0 - share_left[:, None]) * centres[1]


# --- body: pelvis height, leg IK, assembly, balance -----------------------------------------


def leg_chain(sk: Skeleton, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rest offsets of the hip (from the pelvis), knee (from the hip), ankle (from the knee)."""
    name = SIDES[side]
    return tuple(sk.offsets[J[f"{name}_{part}"]] for part in ("Hip", "Knee", "Ankle"))


def leg_reach(sk: Skeleton, side: int, knee: np.ndarray) -> np.ndarray:
    """Hip-to-ankle distances (T,) with the knee flexed by `knee` (T,) (rotation about y)."""
    _, a, b = leg_chain(sk, side)
    return np.linalg.norm(a + rot(1, knee) @ b, axis=-1)


def pelvis_height(
    sk: Skeleton, feet: Feet, pelvis_xy: np.ndarray, pelvis_rot: np.ndarray, drop: np.ndarray,
    knee: np.ndarray,
) -> np.ndarray:
    """(T,) pelvis height: as high as both legs allow with `knee` (T,) flexion, lowered by `drop`
    below the clip's highest such height. That limit is smoothed (Gaussian, HEIGHT_SMOOTH[0]
    frames), then pushed down wherever it overshoots by a smooth envelope of the overshoot (max
    filter and Gaussian over +-HEIGHT_SMOOTH[1] frames), so the result never exceeds the limit."""
    limits = []
    for side in (0, 1):
        hip, _, _ = leg_chain(sk, side)
        q = feet.ankle[:, side] - pelvis_rot @ hip
        q[:, :2] -= pelvis_xy
        reach = leg_reach(sk, side, knee)
        limits.append(q[:, 2] + np.sqrt(reach**2 - (q[:, :2] ** 2).sum(-1)))
    limit = np.minimum(*limits)
    limit = np.minimum(limit, limit.max() - drop)
    sigma, width = HEIGHT_SMOOTH
    smooth = gaussian_filter1d(limit, sigma, mode="nearest")
    overshoot = maximum_filter1d(np.maximum(smooth - limit, 0.0), 2 * width + 1, mode="nearest")
    return smooth - gaussian_filter1d(overshoot, width / 3.0, mode="nearest", truncate=3.0)


def leg_ik(
    sk: Skeleton, side: int, pelvis_pos: np.ndarray, pelvis_rot: np.ndarray,
    ankle: np.ndarray, foot_rot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hip, knee, ankle rotations (T, 3, 3) placing the ankle at `ankle` with the foot at
    `foot_rot` (world). Hip = Rz(yaw) Rx(roll) Ry(flexion), knee = Ry(flexion); the hip yaw is
    the foot's heading relative to the pelvis, so the knee points over the toes."""
    hip, a, b = leg_chain(sk, side)
    d = np.einsum("tji,tj->ti", pelvis_rot, ankle - pelvis_pos) - hip
    yaw = np.angle(np.exp(1j * (heading(foot_rot) - heading(pelvis_rot))))
    e = np.einsum("tji,tj->ti", rot(2, yaw), d)                      # Rz(yaw).T @ d
    # knee: |a + Ry(knee) b| = |e|, solved in the (x, z) plane where Ry acts
    dist2 = (e**2).sum(-1)
    a_xz, b_xz = np.hypot(a[0], a[2]), np.hypot(b[0], b[2])
    cos_rel = (dist2 - a @ a - b @ b - 2 * a[1] * b[1]) / (2 * a_xz * b_xz)
    if np.abs(cos_rel).max() > 1.0:
        raise ValueError(f"{SIDES[side]} ankle out of the leg's reach")
    knee = np.arctan2(b[2], b[0]) - np.arctan2(a[2], a[0]) + np.arccos(cos_rel)
    v = a + np.einsum("tij,j->ti", rot(1, knee), b)
    # hip: Rx(roll) Ry(flex) v = e; Ry keeps v's y, so u = Ry(flex) v has u_x = e_x, u_y = v_y
    u_z = -np.sqrt(np.maximum(dist2 - e[:, 0] ** 2 - v[:, 1] ** 2, 0.0))
    roll = np.arctan2(e[:, 2], e[:, 1]) - np.arctan2(u_z, v[:, 1])
    flex = np.arctan2(v[:, 2], v[:, 0]) - np.arctan2(u_z, e[:, 0])
    hip_rot = rot(2, yaw) @ rot(0, roll) @ rot(1, flex)
    knee_rot = rot(1, knee)
    ankle_rot = np.swapaxes(pelvis_rot @ hip_rot @ knee_rot, -1, -2) @ foot_rot
    return hip_rot, knee_rot, ankle_rot


@dataclass(frozen=True)
class Clip:
    """A motion in the humanoid frame: local rotations (T, 24, 3, 3), pelvis position (T, 3)."""

    name: str
    local_rot: np.ndarray
    root_pos: np.ndarray


def assemble(
    name: str, sk: Skeleton, feet: Feet, pelvis_xy: np.ndarray, pelvis_rot: np.ndarray,
    upper: dict[str, np.ndarray], drop: np.ndarray | float = 0.0,
    knee: np.ndarray | float = KNEE_MIN,
) -> Clip:
    """Pelvis height (`drop`, least `knee` flexion: see pelvis_height), leg IK and upper-body
    rotations (joint name -> (T, 3, 3)) into one clip."""
    t = len(pelvis_xy)
    z = pelvis_height(sk, feet, pelvis_xy, pelvis_rot, np.broadcast_to(drop, (t,)),
                      np.broadcast_to(knee, (t,)))
    root_pos = np.column_stack([pelvis_xy, z])
    local = np.tile(np.eye(3), (t, NUM_JOINTS, 1, 1))
    local[:, 0] = pelvis_rot
    for joint, r in upper.items():
        local[:, J[joint]] = r
    for side, prefix in enumerate(SIDES):
        rots = leg_ik(sk, side, root_pos, pelvis_rot, feet.ankle[:, side], feet.rot[:, side])
        for part, r in zip(("Hip", "Knee", "Ankle"), rots):
            local[:, J[f"{prefix}_{part}"]] = r
        local[:, J[f"{prefix}_Toe"]] = rot(1, -feet.pitch[:, side])
    return Clip(name, local, root_pos)


def centre_of_mass(pos: np.ndarray) -> np.ndarray:
    """(T, 3) whole-body centre of mass from joint positions (T, 24, 3), segment masses SEGMENTS."""
    return sum(mass * (pos[:, J[a]] + pos[:, J[b]]) / 2.0 for a, b, mass in SEGMENTS)


def pendulum_com(zmp: np.ndarray) -> np.ndarray:
    """(T, 2) the bounded solution c of the linear inverted pendulum c'' = g / COM_HEIGHT
    (c - zmp): the ZMP path convolved with (w / 2) exp(-w |t|), standing before and after the
    clip. Over HOLD s at either end it is blended into the ZMP itself, so a clip starts and ends
    at rest (the plans leave about a second of standing there: the blend is a centimetre or
    two, with the ZMP that results still between the feet)."""
    omega = np.sqrt(9.81 / COM_HEIGHT)
    lag = np.arange(-3 * FPS, 3 * FPS + 1) / FPS                  # exp(-w 3 s) < 1e-4
    kernel = np.exp(-omega * np.abs(lag))
    padded = np.pad(zmp, ((3 * FPS, 3 * FPS), (0, 0)), mode="edge")
    kernel /= kernel.sum()
    com = np.column_stack([np.convolve(padded[:, i], kernel, mode="valid") for i in (0, 1)])
    t = np.arange(len(zmp)) / FPS
    at_rest = 1.0 - ramp(t, 0.0, HOLD) + ramp(t, t[-1] - HOLD, t[-1])
    return com + at_rest[:, None] * (zmp - com)


def balanced(
    name: str, sk: Skeleton, feet: Feet, com_xy: np.ndarray, pelvis_rot: np.ndarray,
    upper: dict[str, np.ndarray], drop: np.ndarray | float = 0.0,
    knee: np.ndarray | float = KNEE_MIN,
) -> Clip:
    """`assemble` with the pelvis moved horizontally until the centre of mass follows com_xy."""
    pelvis_xy = com_xy.copy()
    for _ in range(BALANCE_ITERATIONS):
        clip = assemble(name, sk, feet, pelvis_xy, pelvis_rot, upper, drop, knee)
        pos, _ = forward_kinematics(sk, clip.local_rot, clip.root_pos)
        pelvis_xy = pelvis_xy + com_xy - centre_of_mass(pos)[:, :2]
    return clip


# --- upper body ----------------------------------------------------------------------------


def arms(
    swing_l: np.ndarray, swing_r: np.ndarray, elbow_l: np.ndarray, elbow_r: np.ndarray,
) -> dict[str, np.ndarray]:
    """Arms hanging at the sides, swung forward by `swing` (shoulder flexion, rad) and bent at
    the elbows by `elbow` (flexion, rad; forearm forward)."""
    return {
        "L_Shoulder": rot(1, -swing_l) @ rot(0, -ARM_DOWN),
        "R_Shoulder": rot(1, -swing_r) @ rot(0, ARM_DOWN),
        "L_Elbow": rot(2, -elbow_l),
        "R_Elbow": rot(2, elbow_r),
    }


def spine(pitch: np.ndarray, yaw: np.ndarray, head_pitch: np.ndarray) -> dict[str, np.ndarray]:
    """Trunk bent forward by `pitch` and twisted left by `yaw` (rad, shared by the three spine
    joints); the neck and head pitch forward by `head_pitch` (shared)."""
    trunk = rot(2, yaw / 3.0) @ rot(1, pitch / 3.0)
    return {"Torso": trunk, "Spine": trunk, "Chest": trunk,
            "Neck": rot(1, head_pitch / 2.0), "Head": rot(1, head_pitch / 2.0)}


# --- clips ---------------------------------------------------------------------------------


def stand(sk: Skeleton) -> Clip:
    """4 s of quiet standing: slow sway of the centre of mass, one breath, relaxed arms."""
    t = times(4.0)
    feet = standing_feet(sk, t)
    phase = t / t[-1]
    envelope = np.sin(np.pi * phase) ** 2
    sway = np.column_stack([0.010 * envelope * np.sin(2 * np.pi * phase),
                            0.006 * envelope * np.sin(3 * np.pi * phase)])
    breath = np.sin(np.pi * phase) ** 2                     # one inhale-exhale
    upper = spine(-np.deg2rad(2.0) * breath, np.zeros_like(t), np.deg2rad(1.5) * breath)
    swing = np.deg2rad(2.0) * envelope * np.sin(2 * np.pi * phase)
    elbow = np.full_like(t, ELBOW_REST)
    upper |= arms(swing, swing, elbow, elbow)
    shrug = np.deg2rad(2.0) * breath                        # collarbones rise with the breath
    upper |= {"L_Thorax": rot(0, -shrug), "R_Thorax": rot(0, shrug)}
    com = pendulum_com(zmp_path(sk, feet, t, [])) + sway
    return balanced("stand", sk, feet, com, rot(2, np.zeros_like(t)), upper)


def straight_steps(t: np.ndarray, x: np.ndarray, rest: np.ndarray, t_first: float) -> list[Step]:
    """Alternate steps (right foot first, WALK_STEP apart) along +x for a body at x(t): each foot
    lands where the body will be over it halfway through its flat-foot stance; steps that would
    land within 0.1 m of the final standing place land there, and empty steps are left out."""
    step_time, swing_time = WALK_STEP
    placed, steps = rest[:, 0].copy(), []
    for k in range(int((t[-1] - t_first) / step_time)):
        side, t_lift = (k + 1) % 2, t_first + k * step_time
        land_x = np.interp(t_lift + swing_time + step_time - swing_time / 2, t, x)
        land_x = rest[side, 0] + (x[-1] if x[-1] - land_x < 0.1 else land_x)
        if land_x > placed[side] + 0.01:
            steps.append(Step(side, t_lift, t_lift + swing_time, (land_x, rest[side, 1]), 0.0))
            placed[side] = land_x
    return steps


def walk(sk: Skeleton) -> Clip:
    """6 s: stand, start walking, 1.2 m/s along +x, stop with the feet together, stand. The
    footsteps are planned for a smooth speed profile, the centre of mass then follows the
    inverted pendulum over the stance feet."""
    speed, t_start, t_stop, accel_time = 1.2, 0.8, 3.7, 1.3
    t = times(6.0)
    vel = speed * (ramp(t, t_start, t_start + accel_time) - ramp(t, t_stop, t_stop + accel_time))
    x = cumulative_trapezoid(vel, t, initial=0.0)
    rest = rest_ankles(sk)
    style = StepStyle(0.05, np.deg2rad(50.0), 0.05)
    steps = straight_steps(t, x, rest, t_start + 0.1)
    feet = foot_tracks(sk, t, rest, np.zeros(2), steps, style)
    stride = feet.ankle[:, 1, 0] - feet.ankle[:, 0, 0]      # right ankle ahead of left, m
    pelvis_yaw = 0.08 * stride
    moving = vel / speed
    upper = spine(np.deg2rad(3.0) * moving, -pelvis_yaw, -np.deg2rad(3.0) * moving)
    swing = 0.45 * stride                                   # left arm forward with the right leg
    elbow_l, elbow_r = (ELBOW_REST + 0.5 * np.maximum(s, 0.0) for s in (swing, -swing))
    upper |= arms(swing, -swing, elbow_l, elbow_r)
    com = pendulum_com(zmp_path(sk, feet, t, steps))
    knee = KNEE_MIN + (KNEE_STEPPING - KNEE_MIN) * stepping(t, steps)
    return balanced("walk", sk, feet, com, rot(2, pelvis_yaw), upper, knee=knee)


def turn(sk: Skeleton) -> Clip:
    """5 s: stand, turn left by 180 degrees on the spot in six steps (left foot opens, right
    closes, 60 degrees a pair), stand. The pelvis faces the feet's mean heading."""
    step_time, swing_time, t_first = 0.5, 0.4, 0.9
    t = times(5.0)
    rest = rest_ankles(sk)
    steps = []
    for k in range(6):
        side, t_lift = k % 2, t_first + k * step_time
        yaw = np.deg2rad(60.0) * (k // 2 + 1)
        ankle_xy = tuple(rot(2, yaw)[:2, :2] @ rest[side])
        steps.append(Step(side, t_lift, t_lift + swing_time, ankle_xy, yaw))
    feet = foot_tracks(sk, t, rest, np.zeros(2), steps, StepStyle(0.08, np.deg2rad(15.0), 0.05))
    pelvis_yaw = np.unwrap(heading(feet.rot), axis=0).mean(axis=1)
    elbow = np.full_like(t, ELBOW_REST)
    upper = spine(np.zeros_like(t), np.zeros_like(t), np.zeros_like(t))
    upper |= arms(np.zeros_like(t), np.zeros_like(t), elbow, elbow)
    com = pendulum_com(zmp_path(sk, feet, t, steps))
    knee = KNEE_MIN + (KNEE_STEPPING - KNEE_MIN) * stepping(t, steps)
    return balanced("turn", sk, feet, com, rot(2, pelvis_yaw), upper, knee=knee)


def squat(sk: Skeleton) -> Clip:
    """5 s: two bodyweight squats (down 0.9 s, hold 0.2 s, up 0.9 s): trunk leaning forward,
    arms raised forward, the hips going back so the centre of mass stays over the feet."""
    t = times(5.0)
    feet = standing_feet(sk, t)
    depth = sum(ramp(t, t0, t0 + 0.9) - ramp(t, t0 + 1.1, t0 + 2.0) for t0 in (0.4, 2.6))
    pelvis_pitch, trunk_pitch = np.deg2rad(20.0) * depth, np.deg2rad(15.0) * depth
    upper = spine(trunk_pitch, np.zeros_like(t), -0.8 * (pelvis_pitch + trunk_pitch))
    raise_ = np.deg2rad(80.0) * depth + pelvis_pitch + trunk_pitch      # arms ~10 deg below level
    elbow = ELBOW_REST * (1.0 - depth)
    upper |= arms(raise_, raise_, elbow, elbow)
    com = pendulum_com(zmp_path(sk, feet, t, []))
    return balanced("squat", sk, feet, com, rot(1, pelvis_pitch), upper, SQUAT_DROP * depth)


# --- SMPL output and checks ----------------------------------------------------------------


def to_smpl(sk: Skeleton, clip: Clip) -> dict[str, np.ndarray]:
    """AMASS-style arrays: a humanoid-frame local rotation R becomes P.T R P in the SMPL model
    frame; the root's global orientation R P takes the model frame (y up) into the Z-up world."""
    p = SMPL_TO_HUMANOID
    smpl_rot = p.T @ clip.local_rot @ p
    smpl_rot[:, 0] = clip.local_rot[:, 0] @ p
    rotvec = Rotation.from_matrix(smpl_rot.reshape(-1, 3, 3)).as_rotvec()
    poses = continuous(rotvec.reshape(len(smpl_rot), NUM_JOINTS, 3)).reshape(len(smpl_rot), -1)
    return {
        "poses": poses.astype(np.float32),
        "trans": (clip.root_pos - sk.pelvis_in_smpl_frame).astype(np.float32),
        "betas": np.zeros(10, dtype=np.float32),
        "mocap_framerate": np.array(FPS),
        "gender": np.array("neutral"),
    }


def continuous(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (T, J, 3) made continuous in time: where an angle passes pi the axis
    would flip, so take the equivalent vector (angle - 2 pi along the same axis) nearer the
    previous frame's."""
    out = rotvec.copy()
    for i in range(1, len(out)):
        angle = np.linalg.norm(out[i], axis=-1, keepdims=True)
        other = out[i] * (1.0 - 2.0 * np.pi / np.maximum(angle, 1e-9))
        step, other_step = (np.linalg.norm(v - out[i - 1], axis=-1) for v in (out[i], other))
        out[i, other_step < step] = other[other_step < step]
    return out


def contact_report(sk: Skeleton, pos: np.ndarray) -> dict[str, float]:
    """Ground contact figures from joint positions (T, 24, 3): the lowest ankle's height above
    SOLE, and the largest horizontal speed of a foot point touching the ground (the ankle of a
    flat foot, the toe joint of a foot on its toes), within 2 mm of its flat-foot height."""
    ankles = pos[:, [J["L_Ankle"], J["R_Ankle"]]]
    toes = pos[:, [J["L_Toe"], J["R_Toe"]]]
    low = ankles[..., 2].min(axis=1) - SOLE
    toe_ground = SOLE + np.array([toe_offset(sk, side)[2] for side in (0, 1)])
    slip = 0.0
    for points, ground in ((ankles, np.full(2, SOLE)), (toes, toe_ground)):
        touching = points[..., 2] < ground + 0.002
        both = touching[1:] & touching[:-1]
        speed = np.linalg.norm(np.diff(points[..., :2], axis=0), axis=-1) * FPS
        slip = max(slip, float(speed[both].max(initial=0.0)))
    return {"low_min": float(low.min()), "low_max": float(low.max()), "slip": slip}


def main() -> None:
    """Build, write, check and summarise every clip."""
    sk = mean_shape()
    OUT_DIR.mkdir(exist_ok=True)
    for build in (stand, walk, turn, squat):
        clip = build(sk)
        pos, _ = forward_kinematics(sk, clip.local_rot, clip.root_pos)
        path = OUT_DIR / f"{clip.name}.npz"
        np.savez(path, **to_smpl(sk, clip))
        c = contact_report(sk, pos)
        z = clip.root_pos[:, 2]
        n = len(pos)
        print(f"{clip.name:6s} {n:4d} frames {(n - 1) / FPS:4.2f} s  lowest ankle - {SOLE}: "
              f"[{c['low_min']:+.4f}, {c['low_max']:+.4f}] m  stance slip max {c['slip']:.4f} m/s  "
              f"pelvis z [{z.min():.3f}, {z.max():.3f}] m  {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
