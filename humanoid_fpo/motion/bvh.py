"""Reader for BVH (Biovision hierarchy) motion files, such as the CMU mocap BVH conversion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from humanoid_fpo.motion.source import MotionFileError, SourceMotion

# lower-case channel name -> (is a rotation, axis index)
_CHANNELS = {f"{a}{kind}": (kind == "rotation", i)
             for kind in ("position", "rotation") for i, a in enumerate("xyz")}


@dataclass
class _Joint:
    """A declared joint: parent index (-1: root), OFFSET (3,), lower-case channel names."""

    name: str
    parent: int
    offset: np.ndarray | None = None
    channels: list[str] | None = None


def read_bvh(path: str | Path) -> SourceMotion:
    """Read a BVH file into a `SourceMotion` named after the file stem.

    A joint's local rotation is the product of its rotation channels in the order listed, taken
    intrinsically in degrees: `Zrotation Yrotation Xrotation` gives Rz @ Ry @ Rx. Its local
    translation is its OFFSET, except on the axes it has position channels for, where the channel
    value replaces the OFFSET (MotionBuilder/CMU convention: root positions are absolute). End Sites
    carry no channels and are not joints. Axes and units stay those of the file (CMU: Y-up).
    Raises `MotionFileError` for an unreadable or malformed file.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise MotionFileError(path, f"cannot read: {reason}") from None
    is_motion = [line.strip().upper() == "MOTION" for line in lines]
    motion_at = is_motion.index(True) if any(is_motion) else len(lines)
    joints = _HierarchyParser(path, lines[:motion_at]).parse()
    if motion_at == len(lines):
        raise MotionFileError(path, "no MOTION section")
    fps, data = _parse_motion(path, lines, motion_at + 1, sum(len(j.channels) for j in joints))
    quat, pos = _local_transforms(joints, data)
    return SourceMotion(name=path.stem, path=path, fps=fps,
                        joint_names=tuple(j.name for j in joints),
                        parents=tuple(j.parent for j in joints), local_quat=quat, local_pos=pos)


class _HierarchyParser:
    """Recursive-descent parser of the lines before MOTION into joints, parents before children."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.statements = _statements(lines)
        self.joints: list[_Joint] = []

    def parse(self) -> list[_Joint]:
        """Joints of the single ROOT tree, End Sites left out."""
        first = next(self.statements, None)
        if first is None or first[1][0].upper() != "HIERARCHY":
            raise MotionFileError(self.path, "no HIERARCHY section")
        number, tokens = self.next()
        if tokens[0].upper() != "ROOT":
            self.fail(number, f"expected ROOT, got {tokens[0]!r}")
        self.declare(number, tokens, -1)
        for number, tokens in self.statements:
            self.fail(number, "multiple ROOTs are not supported" if tokens[0].upper() == "ROOT"
                      else f"unbalanced braces: unexpected {tokens[0]!r} after the root block")
        return self.joints

    def next(self) -> tuple[int, list[str]]:
        """The next (line number, tokens); the hierarchy must not end here."""
        statement = next(self.statements, None)
        if statement is None:
            raise MotionFileError(self.path, "unbalanced braces: hierarchy ends inside a block")
        return statement

    def fail(self, number: int, problem: str) -> NoReturn:
        raise MotionFileError(self.path, f"line {number}: {problem}")

    def declare(self, number: int, tokens: list[str], parent: int) -> None:
        """Read the block of a ROOT/JOINT declared by `tokens`, and its children."""
        if len(tokens) < 2:
            self.fail(number, f"{tokens[0]} without a name")
        joint = _Joint(" ".join(tokens[1:]), parent)
        self.joints.append(joint)
        self.block(f"{tokens[0]} {joint.name}", joint)
        if joint.offset is None:
            self.fail(number, f"joint {joint.name!r} has no OFFSET")
        if joint.channels is None:
            self.fail(number, f"joint {joint.name!r} has no CHANNELS (CHANNELS 0 for a joint that never moves)")

    def block(self, title: str, joint: _Joint | None) -> None:
        """Read a `{ ... }` block of `joint` (None: an End Site) up to its closing brace."""
        number, tokens = self.next()
        if tokens != ["{"]:
            self.fail(number, f"expected '{{' after {title}")
        index = len(self.joints) - 1  # `joint` was appended last; End Sites have no children
        while True:
            number, tokens = self.next()
            key = tokens[0].upper()
            if key == "}":
                return
            if key == "OFFSET":
                offset = self.offset(number, tokens[1:])
                if joint is not None:
                    joint.offset = offset
            elif key == "CHANNELS" and joint is not None:
                joint.channels = self.channels(number, tokens[1:])
            elif key == "JOINT" and joint is not None:
                self.declare(number, tokens, index)
            elif key == "END" and joint is not None:
                self.block("End Site", None)
            else:
                self.fail(number, f"unexpected {tokens[0]!r} in {title}")

    def offset(self, number: int, values: list[str]) -> np.ndarray:
        """The (3,) vector of an OFFSET line."""
        try:
            offset = np.array(values, dtype=np.float64)
        except ValueError:
            offset = np.empty(0)
        if offset.shape != (3,) or not np.isfinite(offset).all():
            self.fail(number, f"OFFSET needs 3 numbers, got {' '.join(values)!r}")
        return offset

    def channels(self, number: int, values: list[str]) -> list[str]:
        """The lower-case channel names of a CHANNELS line, checked against its count."""
        if not values or not values[0].isdecimal():
            self.fail(number, "CHANNELS needs a count")
        names = [name.lower() for name in values[1:]]
        if int(values[0]) != len(names):
            self.fail(number, f"CHANNELS declares {values[0]} but lists {len(names)} names")
        unknown = [name for name in values[1:] if name.lower() not in _CHANNELS]
        if unknown:
            self.fail(number, f"unknown channel {unknown[0]!r}")
        return names


def _statements(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) per statement; a brace is a statement of its own."""
    for number, line in enumerate(lines, 1):
        for part in re.split(r"([{}])", line):
            if part.strip():
                yield number, part.split()


def _parse_motion(path: Path, lines: list[str], start: int, width: int) -> tuple[float, np.ndarray]:
    """fps and the (T, width) channel values of the lines from index `start` (after MOTION).

    Error messages number frames from 1.
    """
    body = [(i + 1, line) for i, line in enumerate(lines[start:], start) if line.strip()]
    count_text, dt_text = _header(path, body, 0, "Frames:"), _header(path, body, 1, "Frame Time:")
    if not re.fullmatch(r"[+-]?\d+", count_text):
        raise MotionFileError(path, f"Frames: {count_text!r} is not an integer")
    if int(count_text) <= 0:
        raise MotionFileError(path, f"no frames (Frames: {count_text})")
    try:
        dt = float(dt_text)
    except ValueError:
        raise MotionFileError(path, f"Frame Time: {dt_text!r} is not a number") from None
    if not (np.isfinite(dt) and dt > 0):
        raise MotionFileError(path, f"Frame Time: {dt_text} is not positive")
    rows, count = body[2:], int(count_text)
    if len(rows) < count:
        raise MotionFileError(path, f"truncated: {len(rows)} of {count} frames")
    if len(rows) > count:
        raise MotionFileError(path, f"{len(rows)} frame lines but Frames: {count}")
    values = [line.split() for _, line in rows]
    for k, row in enumerate(values):
        if len(row) != width:
            raise MotionFileError(path, f"frame {k + 1} has {len(row)} values, expected {width} "
                                        f"(line {rows[k][0]})")
    try:
        data = np.array(values, dtype=np.float64)
    except ValueError:
        k, token = next((k, t) for k, row in enumerate(values) for t in row if not _is_number(t))
        raise MotionFileError(path, f"frame {k + 1} has non-numeric value {token!r}") from None
    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if bad.size:
        raise MotionFileError(path, f"frame {bad[0] + 1} has a NaN or inf value")
    return 1.0 / dt, data


def _header(path: Path, body: list[tuple[int, str]], index: int, label: str) -> str:
    """The text after `label` on the `index`-th non-blank MOTION line."""
    pattern = label.replace(" ", r"\s+") + r"\s*(.*)"
    match = re.fullmatch(pattern, body[index][1].strip(), re.I) if index < len(body) else None
    if match is None:
        raise MotionFileError(path, f"missing '{label}'")
    return match.group(1)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _local_transforms(joints: list[_Joint], data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local wxyz quaternions (T, J, 4) and translations (T, J, 3) from channel values (T, C)."""
    frames = data.shape[0]
    quat, pos = np.zeros((frames, len(joints), 4)), np.empty((frames, len(joints), 3))
    quat[..., 0] = 1.0
    columns = iter(data.T)
    for j, joint in enumerate(joints):
        pos[:, j] = joint.offset
        for name in joint.channels:
            is_rotation, axis = _CHANNELS[name]
            if is_rotation:
                half = np.radians(next(columns)) / 2
                elemental = np.zeros((frames, 4))
                elemental[:, 0], elemental[:, 1 + axis] = np.cos(half), np.sin(half)
                quat[:, j] = _quat_multiply(quat[:, j], elemental)
            else:
                pos[:, j, axis] = next(columns)
    return quat, pos


def _quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of wxyz quaternions (T, 4): the rotation a @ b."""
    aw, av, bw, bv = a[:, :1], a[:, 1:], b[:, :1], b[:, 1:]
    return np.concatenate([aw * bw - (av * bv).sum(1, keepdims=True),
                           aw * bv + bw * av + np.cross(av, bv)], axis=1)
