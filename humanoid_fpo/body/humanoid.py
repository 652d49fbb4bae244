"""Build the humanoid MJCF from a skeleton.

Free root at the pelvis; every other SMPL joint is three hinges about the body's local axes
(MuJoCo composes them as intrinsic Euler angles in definition order), ordered so that the axis
along the bone (its twist) is the middle one: the Euler singularity then sits at a 90-degree
twist, which human joints do not reach, instead of at 90 degrees of knee or hip flexion.
69 position actuators (stiffness kp, force-limited) and the PD damping kd = kp/10 as each hinge's
joint damping: both engines integrate joint damping implicitly, while MJX and MuJoCo C treat the
damping of an actuator at its force limit differently (STACK.md), so they agree on this model.
Body frames are the humanoid frame of `skeleton` (x forward, y left, z up) at the T-pose rest.
Geometry: capsules along bones, boxes for feet and toes, a sphere head, scaled to `mass`.
Body geoms collide with nothing by default: contacts come only from explicit `<pair>`s between
the chosen bodies and the floor (MJX pays for every possible contact, so this set sets the speed).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from humanoid_fpo.util.atomic import atomic_path, check_output
from humanoid_fpo.body.skeleton import (JOINT_NAMES, MUJOCO_BODY_NAMES, MUJOCO_ORDER, NUM_JOINTS, PARENTS,
                                   Skeleton, from_smpl_model, mean_shape)

ASSET_PATH = Path(__file__).resolve().parents[2] / "assets" / "humanoid.xml"

CONTACT_SETS: dict[str, tuple[str, ...]] = {
    "feet": ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe"),
    "feet_hands": ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe", "L_Hand", "R_Hand"),
    "feet_knees_hands": ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe", "L_Knee", "R_Knee",
                         "L_Wrist", "R_Wrist", "L_Hand", "R_Hand"),
    "all": JOINT_NAMES,
}

SOLE_BELOW_ANKLE = 0.075  # m, depth of the sole below the ankle joint at rest

# Per joint group: PD stiffness kp (N m/rad), torque limit (N m), and hinge ranges (deg) about
# x (forward), y (left), z (up) for the left side (and the midline); the right side mirrors x and
# z. Signs at the T-pose rest: hip flexion is -y, knee flexion +y, left elbow flexion -z, left arm
# down -x. Damping is kp / 10. Ranges are generous: the reference decides the pose, the limits
# only keep the simulation (and the IK of skeletons we cannot map exactly) out of impossible ones.
_GROUPS: dict[str, tuple[float, float, tuple[tuple[float, float], ...]]] = {
    "Hip": (800.0, 300.0, ((-60, 100), (-160, 60), (-80, 80))),
    "Knee": (800.0, 300.0, ((-40, 40), (-20, 170), (-60, 60))),
    "Ankle": (800.0, 200.0, ((-60, 60), (-80, 80), (-60, 60))),
    "Toe": (500.0, 50.0, ((-60, 60), (-90, 90), (-60, 60))),
    "Torso": (1000.0, 300.0, ((-60, 60), (-60, 90), (-60, 60))),
    "Spine": (1000.0, 300.0, ((-60, 60), (-60, 90), (-60, 60))),
    "Chest": (1000.0, 300.0, ((-60, 60), (-60, 90), (-60, 60))),
    "Neck": (500.0, 100.0, ((-70, 70), (-70, 90), (-90, 90))),
    "Head": (500.0, 50.0, ((-70, 70), (-70, 90), (-90, 90))),
    "Thorax": (500.0, 100.0, ((-60, 60), (-60, 60), (-110, 110))),
    "Shoulder": (500.0, 150.0, ((-180, 180), (-150, 150), (-180, 180))),
    "Elbow": (500.0, 100.0, ((-90, 90), (-150, 150), (-170, 20))),
    "Wrist": (300.0, 30.0, ((-90, 90), (-120, 120), (-90, 90))),
    "Hand": (300.0, 10.0, ((-60, 60), (-90, 90), (-60, 60))),
}


def joint_group(name: str) -> str:
    """'L_Knee' -> 'Knee'."""
    return name.split("_")[-1]


def hinge_order(name: str) -> str:
    """Axes of joint `name`'s three hinges in MuJoCo order, e.g. 'xzy': bone axis in the middle."""
    group = joint_group(name)
    if group in ("Thorax", "Shoulder", "Elbow", "Wrist", "Hand"):
        return "xyz"  # arm bones run along y at the T-pose
    if group in ("Ankle", "Toe"):
        return "yxz"  # the foot runs along x
    return "xzy"  # legs, spine, neck and head run along z


def hinge_names() -> list[str]:
    """The 69 hinge (and actuator) names in qpos order: MuJoCo body order, each in hinge_order."""
    return [f"{n}_{a}" for n in MUJOCO_BODY_NAMES[1:] for a in hinge_order(n)]


@dataclass(frozen=True)
class Geom:
    """One collision/visual primitive of a body, in the body frame."""

    name: str
    kind: str  # capsule | box | sphere
    size: tuple[float, ...]  # capsule (r,), box half sizes (3), sphere (r,)
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fromto: tuple[float, ...] | None = None  # capsule end points (6)

    def volume(self) -> float:
        if self.kind == "capsule":
            r, a, b = self.size[0], np.array(self.fromto[:3]), np.array(self.fromto[3:])
            return math.pi * r * r * float(np.linalg.norm(b - a)) + 4.0 / 3.0 * math.pi * r**3
        if self.kind == "box":
            return 8.0 * self.size[0] * self.size[1] * self.size[2]
        return 4.0 / 3.0 * math.pi * self.size[0] ** 3


def _children(j: int) -> list[int]:
    return [c for c in range(NUM_JOINTS) if PARENTS[c] == j]


def _bone(name: str, end: np.ndarray, radius: float, trim: float = 0.0) -> Geom:
    """Capsule from the body origin towards `end`, shortened by `trim` of its length at each end."""
    a, b = trim * end, (1.0 - trim) * end
    return Geom(name, "capsule", (radius,), fromto=(*a, *b))


def body_geom(skel: Skeleton, j: int) -> Geom:
    """The primitive of body j; its place and size follow from the skeleton's rest offsets."""
    off, name = skel.offsets, JOINT_NAMES[j]
    group = joint_group(name)
    child = _children(j)
    if name == "Pelvis":
        l_hip, r_hip = off[JOINT_NAMES.index("L_Hip")], off[JOINT_NAMES.index("R_Hip")]
        return Geom(name, "capsule", (0.09,), fromto=(*l_hip * 0.7, *r_hip * 0.7))
    if group == "Ankle":
        toe = off[child[0]]
        x0, x1, top = -0.06, toe[0], 0.015
        return Geom(name, "box", (0.5 * (x1 - x0), 0.045, 0.5 * (top + SOLE_BELOW_ANKLE)),
                    pos=(0.5 * (x0 + x1), 0.5 * toe[1], 0.5 * (top - SOLE_BELOW_ANKLE)))
    if group == "Toe":
        bottom = -SOLE_BELOW_ANKLE - off[j][2]  # toe joint height above the sole is -bottom
        return Geom(name, "box", (0.03, 0.045, 0.5 * (0.01 - bottom)),
                    pos=(0.03, 0.0, 0.5 * (0.01 + bottom)))
    if name == "Head":
        return Geom(name, "sphere", (0.1,), pos=(0.02, 0.0, 0.08))
    if name == "Chest":
        l_th, r_th = off[JOINT_NAMES.index("L_Thorax")], off[JOINT_NAMES.index("R_Thorax")]
        return Geom(name, "capsule", (0.1,), fromto=(*(l_th * 0.8 - [0, 0, 0.05]),
                                                     *(r_th * 0.8 - [0, 0, 0.05])))
    if group == "Hand":
        direction = off[j] / np.linalg.norm(off[j])
        return Geom(name, "sphere", (0.04,), pos=tuple(0.04 * direction))
    radius = {"Hip": 0.06, "Knee": 0.05, "Torso": 0.09, "Spine": 0.09, "Neck": 0.045,
              "Thorax": 0.045, "Shoulder": 0.045, "Elbow": 0.04, "Wrist": 0.035}[group]
    trim = 0.15 if group in ("Hip", "Knee", "Shoulder", "Elbow") else 0.0
    return _bone(name, off[child[0]], radius, trim)


def load_model(path: str | Path = ASSET_PATH) -> mujoco.MjModel:
    """The humanoid MjModel from an MJCF file made by `build_mjcf` (default: the asset)."""
    model = mujoco.MjModel.from_xml_path(str(path))
    names = tuple(model.body(b).name for b in range(1, model.nbody))
    if names != MUJOCO_BODY_NAMES or model.nq != 7 + 3 * (NUM_JOINTS - 1):
        raise ValueError(f"{path}: not the SMPL humanoid (bodies {names[:4]}..., nq {model.nq})")
    return model


def skeleton_of(model: mujoco.MjModel) -> Skeleton:
    """The skeleton a humanoid model was built from (body offsets and the stored pelvis offset)."""
    offsets = np.zeros((NUM_JOINTS, 3))
    for k, j in enumerate(MUJOCO_ORDER[1:], start=2):
        offsets[j] = model.body_pos[k]
    offsets[0] = model.numeric("smpl_pelvis_offset").data
    return Skeleton(offsets)


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def build_mjcf(skeleton: Skeleton | None = None, contact: str = "feet", mass: float = 70.0,
               timestep: float = 1.0 / 120.0) -> str:
    """The humanoid MJCF text; `contact` names a set in CONTACT_SETS paired with the floor."""
    skel = skeleton or mean_shape()
    if contact not in CONTACT_SETS:
        raise ValueError(f"unknown contact set {contact!r}; choose from {sorted(CONTACT_SETS)}")
    geoms = [body_geom(skel, j) for j in range(NUM_JOINTS)]
    density = mass / sum(g.volume() for g in geoms)
    ankle_z = min(skel.rest_positions()[JOINT_NAMES.index(n)][2] for n in ("L_Ankle", "R_Ankle"))
    body_xml = _body_xml(skel, geoms, density, 0, indent=4, root_height=SOLE_BELOW_ANKLE - ankle_z)
    actuators = "\n".join(_actuator_xml(h) for h in hinge_names())
    pairs = "\n".join(f'    <pair name="{b}_floor" geom1="{b}" geom2="floor"/>'
                      for b in CONTACT_SETS[contact])
    return f"""<!-- Generated by humanoid_fpo/body/humanoid.py (python -m humanoid_fpo.body.humanoid); do not edit. -->
<mujoco model="smpl_humanoid">
  <compiler angle="radian"/>
  <option timestep="{timestep:.8g}" integrator="implicitfast" solver="Newton" iterations="4" ls_iterations="8"/>
  <size memory="4M"/>
  <default>
    <joint type="hinge" armature="0.02" limited="true"/>
    <geom contype="0" conaffinity="0" condim="3" friction="1 0.005 0.0001" rgba="0.8 0.6 0.45 1"/>
    <position ctrllimited="true" forcelimited="true"/>
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.25 0.3 0.35" rgb2="0.35 0.4 0.45" width="512" height="512"/>
    <material name="grid" texture="grid" texrepeat="8 8" texuniform="true"/>
  </asset>
  <custom>
    <numeric name="smpl_pelvis_offset" data="{_fmt(skel.offsets[0])}"/>
  </custom>
  <worldbody>
    <light name="sun" pos="0 0 4" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="0 0 0.05" material="grid"/>
{body_xml}
  </worldbody>
  <contact>
{pairs}
  </contact>
  <actuator>
{actuators}
  </actuator>
</mujoco>
"""


def _range(hinge: str) -> tuple[float, float]:
    """Range (rad) of hinge 'L_Knee_y'; the right side mirrors the left about the x-z plane."""
    name, axis = hinge.rsplit("_", 1)
    lo, hi = _GROUPS[joint_group(name)][2]["xyz".index(axis)]
    if name.startswith("R_") and axis in "xz":
        lo, hi = -hi, -lo
    return (math.radians(lo), math.radians(hi))


def _actuator_xml(hinge: str) -> str:
    kp, torque, _ = _GROUPS[joint_group(hinge.rsplit("_", 1)[0])]
    return (f'    <position name="{hinge}" joint="{hinge}" kp="{kp:g}" '
            f'ctrlrange="{_fmt(_range(hinge))}" forcerange="{_fmt((-torque, torque))}"/>')


def _kd(hinge: str) -> float:
    """N·m·s/rad, the PD damping of a hinge: joint damping (see the module docstring)."""
    return _GROUPS[joint_group(hinge.rsplit("_", 1)[0])][0] / 10


def _body_xml(skel: Skeleton, geoms: list[Geom], density: float, j: int, indent: int,
              root_height: float) -> str:
    pad = " " * indent
    name = JOINT_NAMES[j]
    pos = (0.0, 0.0, root_height) if j == 0 else skel.offsets[j]
    lines = [f'{pad}<body name="{name}" pos="{_fmt(pos)}">']
    if j == 0:
        lines.append(f'{pad}  <freejoint name="{name}"/>')
    else:
        lines += [f'{pad}  <joint name="{name}_{a}" axis="{_fmt(np.eye(3)["xyz".index(a)])}" '
                  f'range="{_fmt(_range(f"{name}_{a}"))}" damping="{_kd(f"{name}_{a}"):g}"/>'
                  for a in hinge_order(name)]
    g = geoms[j]
    shape = f'fromto="{_fmt(g.fromto)}"' if g.fromto else f'pos="{_fmt(g.pos)}"'
    lines.append(f'{pad}  <geom name="{g.name}" type="{g.kind}" size="{_fmt(g.size)}" '
                 f'{shape} density="{density:.6g}"/>')
    lines += [_body_xml(skel, geoms, density, c, indent + 2, root_height) for c in _children(j)]
    lines.append(f"{pad}</body>")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the humanoid MJCF (default: the asset).")
    parser.add_argument("-o", "--output", type=Path, default=ASSET_PATH)
    parser.add_argument("--contact", default="feet", choices=sorted(CONTACT_SETS))
    parser.add_argument("--smpl-model", type=Path, help="your SMPL .pkl: shape-specific skeleton")
    parser.add_argument("--betas", type=float, nargs="*", help="shape coefficients for --smpl-model")
    args = parser.parse_args(argv)
    try:
        check_output(args.output, "file", (".xml",))
        skeleton = from_smpl_model(args.smpl_model, args.betas) if args.smpl_model else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with atomic_path(args.output) as tmp:
        tmp.write_text(build_mjcf(skeleton, contact=args.contact))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
