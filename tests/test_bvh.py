"""Tests of the BVH reader on a small hand-written file, on malformed variants of it, and on CMU."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from humanoid_fpo.motion.bvh import read_bvh
from humanoid_fpo.motion.source import MotionFileError, global_transforms

HIERARCHY = """\
HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 1 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT Head
    {
      OFFSET 0 2 0
      CHANNELS 3 Zrotation Yrotation Xrotation
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
  JOINT Leg
  {
    OFFSET 1 -1 0
    CHANNELS 3 yrotation XROTATION Zrotation
    End Site
    {
      OFFSET 0 -2 0
    }
  }
}
"""
# Channels per frame: Hips x y z rz rx ry | Chest rx ry rz | Head rz ry rx | Leg ry rx rz.
FRAMES = [
    "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
    "10 20 30 90 0 0 0 0 0 0 0 0 0 0 0",
    "0 0 0 0 0 0 90 0 90 0 0 0 0 0 0",
    "0 0 0 90 90 0 0 0 0 0 0 0 0 0 0",
]
MOTION = "MOTION\nFrames: 4\nFrame Time: 0.04\n" + "\n".join(FRAMES) + "\n\n\n"
VALID = HIERARCHY + MOTION


def rot(axis: str, degrees: float) -> np.ndarray:
    """Explicit (3, 3) rotation matrix about one axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def write(tmp_path: Path, text: str, name: str = "clip.bvh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_structure(tmp_path: Path) -> None:
    motion = read_bvh(write(tmp_path, VALID))
    assert motion.name == "clip"
    assert motion.joint_names == ("Hips", "Chest", "Head", "Leg")
    assert motion.parents == (-1, 0, 1, 0)
    assert motion.fps == pytest.approx(25.0)
    assert motion.local_quat.shape == (4, 4, 4)
    assert motion.local_pos.shape == (4, 4, 3)
    np.testing.assert_allclose(motion.local_pos[1, 0], [10, 20, 30])  # root OFFSET ignored
    np.testing.assert_allclose(motion.local_pos[:, 3], np.tile([1, -1, 0], (4, 1)))


def test_forward_kinematics_by_hand(tmp_path: Path) -> None:
    pos, rotations = global_transforms(read_bvh(write(tmp_path, VALID)))
    # Frame 0: rest pose; root at its position channels (0, 0, 0).
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [0, 1, 0], [0, 3, 0], [1, -1, 0]], atol=1e-9)
    # Frame 1: root at (10, 20, 30) turned 90 degrees about z: (x, y, z) -> (-y, x, z).
    np.testing.assert_allclose(pos[1], [[10, 20, 30], [9, 20, 30], [7, 20, 30], [11, 21, 30]],
                               atol=1e-9)
    # Frame 2: Chest "Xrotation Yrotation Zrotation" = 90, 0, 90 gives Rx(90) @ Rz(90).
    np.testing.assert_allclose(rotations[2, 1], rot("x", 90) @ rot("z", 90), atol=1e-9)
    np.testing.assert_allclose(pos[2, 2], [-2, 1, 0], atol=1e-9)
    # Frame 3: root "Zrotation Xrotation" = 90, 90 gives Rz(90) @ Rx(90).
    np.testing.assert_allclose(rotations[3, 0], rot("z", 90) @ rot("x", 90), atol=1e-9)
    np.testing.assert_allclose(pos[3, 1], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(pos[3, 3], [0, 1, -1], atol=1e-9)


def test_channel_order_matters(tmp_path: Path) -> None:
    angles = {"x": 30.0, "y": 45.0, "z": 60.0}
    expected = []
    for order in ("xyz", "zyx"):
        channels = " ".join(f"{a.upper()}rotation" for a in order)
        text = VALID.replace("CHANNELS 3 Xrotation Yrotation Zrotation", f"CHANNELS 3 {channels}")
        values = " ".join(str(angles[a]) for a in order)
        text = text.replace(FRAMES[2], f"0 0 0 0 0 0 {values} 0 0 0 0 0 0")
        pos, rotations = global_transforms(read_bvh(write(tmp_path, text, f"{order}.bvh")))
        matrix = rot(order[0], angles[order[0]]) @ rot(order[1], angles[order[1]]) \
            @ rot(order[2], angles[order[2]])
        np.testing.assert_allclose(rotations[2, 1], matrix, atol=1e-9)
        np.testing.assert_allclose(pos[2, 2], [0, 1, 0] + matrix @ [0, 2, 0], atol=1e-9)
        expected.append(matrix)
    assert not np.allclose(expected[0], expected[1])


def test_cmu_file(shared_motions: Path) -> None:
    motion = read_bvh(shared_motions / "cmu_bvh" / "cmu_01_01.bvh")
    assert len(motion.joint_names) == 31
    assert motion.num_frames == 2752
    assert motion.fps == pytest.approx(120.0, abs=1e-3)
    assert motion.joint_names[0] == "Hips" and motion.parents[0] == -1
    pos, _ = global_transforms(motion)
    names = motion.joint_names
    feet_y = [pos[0, names.index(n), 1] for n in ("LeftFoot", "RightFoot", "LeftToeBase",
                                                  "RightToeBase")]
    assert pos[0, names.index("Head"), 1] > max(feet_y)


def sub(old: str, new: str) -> Callable[[str], str]:
    """An edit of the valid text replacing the first `old`, which must occur in it."""
    assert old in VALID, old
    return lambda text: text.replace(old, new, 1)


MALFORMED = [
    ("no_hierarchy", sub("HIERARCHY\n", ""), "no HIERARCHY section"),
    ("no_motion", lambda text: HIERARCHY, "no MOTION section"),
    ("missing_close_brace", sub("  }\n}\n", "  }\n"), "unbalanced braces: hierarchy ends inside"),
    ("extra_close_brace", sub("}\nMOTION", "}\n}\nMOTION"), "unbalanced braces: unexpected '}'"),
    ("ends_in_hierarchy", lambda text: text[:text.index("JOINT Leg")],
     "unbalanced braces: hierarchy ends inside"),
    ("missing_open_brace", sub("JOINT Chest\n  {", "JOINT Chest"),
     "expected '{' after JOINT Chest"),
    ("multiple_roots", sub("MOTION", "ROOT Other\n{\n  OFFSET 0 0 0\n}\nMOTION"),
     "multiple ROOTs are not supported"),
    ("offset_two_numbers", sub("OFFSET 0 1 0", "OFFSET 0 1"), "OFFSET needs 3 numbers, got '0 1'"),
    ("offset_not_number", sub("OFFSET 0 1 0", "OFFSET 0 one 0"), "OFFSET needs 3 numbers"),
    ("channel_count", sub("CHANNELS 3 Xrotation", "CHANNELS 2 Xrotation"),
     "CHANNELS declares 2 but lists 3 names"),
    ("channel_name", sub("Yrotation Zrotation", "Wrotation Zrotation"),
     "unknown channel 'Wrotation'"),
    ("no_offset", sub("    OFFSET 0 1 0\n", ""), "joint 'Chest' has no OFFSET"),
    ("no_channels", sub("    CHANNELS 3 Xrotation Yrotation Zrotation\n", ""), "joint 'Chest' has no CHANNELS"),
    ("channels_no_count", sub("CHANNELS 3 Xrotation", "CHANNELS Xrotation"),
     "CHANNELS needs a count"),
    ("channels_in_end_site", sub("OFFSET 0 0.5 0", "OFFSET 0 0.5 0\n CHANNELS 1 Xrotation"),
     "unexpected 'CHANNELS' in End Site"),
    ("frames_missing", sub("Frames: 4\n", ""), "missing 'Frames:'"),
    ("frames_not_integer", sub("Frames: 4", "Frames: 4.5"), "Frames: '4.5' is not an integer"),
    ("frame_time_missing", sub("Frame Time: 0.04\n", ""), "missing 'Frame Time:'"),
    ("frame_time_not_number", sub("Frame Time: 0.04", "Frame Time: fast"),
     "Frame Time: 'fast' is not a number"),
    ("frame_time_zero", sub("Frame Time: 0.04", "Frame Time: 0"), "Frame Time: 0 is not positive"),
    ("frame_time_negative", sub("Frame Time: 0.04", "Frame Time: -0.04"),
     "Frame Time: -0.04 is not positive"),
    ("truncated", sub("\n" + FRAMES[3], ""), "truncated: 3 of 4 frames"),
    ("extra_frame", sub(FRAMES[3], FRAMES[3] + "\n" + FRAMES[3]), "5 frame lines but Frames: 4"),
    ("short_frame", sub("10 20 30 90 0 0", "10 20 30 90 0"), "frame 2 has 14 values, expected 15"),
    ("long_frame", sub("10 20 30", "10 20 30 40"), "frame 2 has 16 values, expected 15"),
    ("non_numeric", sub("10 20 30", "10 abc 30"), "frame 2 has non-numeric value 'abc'"),
    ("nan_value", sub("10 20 30", "10 nan 30"), "frame 2 has a NaN or inf value"),
    ("inf_value", sub("10 20 30", "10 20 -inf"), "frame 2 has a NaN or inf value"),
    ("zero_frames", lambda text: HIERARCHY + "MOTION\nFrames: 0\nFrame Time: 0.04\n",
     "no frames (Frames: 0)"),
]


@pytest.mark.parametrize("edit, problem", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed(tmp_path: Path, edit: Callable[[str], str], problem: str) -> None:
    path = write(tmp_path, edit(VALID), "bad_clip.bvh")
    with pytest.raises(MotionFileError, match=rf"bad_clip\.bvh: .*{re.escape(problem)}"):
        read_bvh(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MotionFileError, match=r"absent\.bvh: file not found"):
        read_bvh(tmp_path / "absent.bvh")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.bvh"
    path.write_bytes(b"\xff\xfe\x00HIERARCHY")
    with pytest.raises(MotionFileError, match=r"binary\.bvh: cannot read"):
        read_bvh(path)
