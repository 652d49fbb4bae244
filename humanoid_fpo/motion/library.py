"""The packed motion library: many retargeted clips in one file, queried by (clip, time) on device.

Clips are concatenated along frames. Per frame it stores qpos, qvel and the world-frame state of
every body (MuJoCo body order) from MuJoCo kinematics of the retargeted qpos, so the reference
and the simulation agree by construction. `query` interpolates between frames (lerp, slerp for
quaternions) and is pure JAX: batched, jit-able, usable inside the env step.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.body.humanoid import ASSET_PATH, load_model
from humanoid_fpo.body.mirror import mirror_qpos, mirror_qvel
from humanoid_fpo.motion.amass import read_npz_arrays
from humanoid_fpo.motion.kinematics import body_states, trajectory_qvel
from humanoid_fpo.motion.retarget import RetargetedClip, find_motion_files, retarget_files
from humanoid_fpo.motion.source import MotionFileError

FORMAT_VERSION = 1
_FRAME_FIELDS = ("qpos", "qvel", "body_pos", "body_quat", "body_lin_vel", "body_ang_vel")


class MotionFrame(NamedTuple):
    """Reference state for a batch of queries (B); bodies in MuJoCo order, world frame."""

    qpos: jax.Array  # (B, nq)
    qvel: jax.Array  # (B, nv)
    body_pos: jax.Array  # (B, 24, 3)
    body_quat: jax.Array  # (B, 24, 4) wxyz
    body_lin_vel: jax.Array  # (B, 24, 3) velocity of the body origin
    body_ang_vel: jax.Array  # (B, 24, 3)


@dataclass(frozen=True)
class MotionLibrary:
    """N frames of C clips. Array fields are pytree leaves; names and fps are static."""

    qpos: np.ndarray  # (N, nq)
    qvel: np.ndarray  # (N, nv)
    body_pos: np.ndarray  # (N, 24, 3)
    body_quat: np.ndarray  # (N, 24, 4)
    body_lin_vel: np.ndarray  # (N, 24, 3)
    body_ang_vel: np.ndarray  # (N, 24, 3)
    clip_start: np.ndarray  # (C,) first frame of each clip
    clip_length: np.ndarray  # (C,) frames
    fit_error: np.ndarray  # (C,) m, mean retargeting position error
    contact_error: np.ndarray  # (C,) m, see retarget.ground
    fps: float
    clip_names: tuple[str, ...]
    clip_sources: tuple[str, ...]
    body_names: tuple[str, ...]

    @property
    def num_clips(self) -> int:
        return len(self.clip_names)

    @property
    def durations(self):
        """(C,) seconds from first to last frame."""
        return (self.clip_length - 1) / self.fps


_META = ("fps", "clip_names", "clip_sources", "body_names")
jax.tree_util.register_dataclass(
    MotionLibrary,
    data_fields=[f.name for f in fields(MotionLibrary) if f.name not in _META],
    meta_fields=list(_META),
)


def build_library(clips: list[RetargetedClip], model: mujoco.MjModel) -> MotionLibrary:
    """Pack clips (all at one fps) with their velocities and body states from MuJoCo."""
    if not clips:
        raise ValueError("no clips to pack: the motion library would be empty")
    fps = clips[0].fps
    if any(c.fps != fps for c in clips):
        raise ValueError(f"clips have different frame rates: {sorted({c.fps for c in clips})}")
    lengths = np.array([len(c.qpos) for c in clips], dtype=np.int32)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int32)
    nb, total = model.nbody - 1, int(lengths.sum())
    # filled clip by clip in float32: the peak is the library itself, not every clip's float64 copy
    widths = {"qpos": (model.nq,), "qvel": (model.nv,), "body_pos": (nb, 3), "body_quat": (nb, 4),
              "body_lin_vel": (nb, 3), "body_ang_vel": (nb, 3)}
    frames = {k: np.empty((total, *widths[k]), np.float32) for k in _FRAME_FIELDS}
    for clip, start in zip(clips, starts):
        rows = slice(start, start + len(clip.qpos))
        qvel = trajectory_qvel(model, clip.qpos, fps) if clip.qvel is None else clip.qvel
        frames["qpos"][rows], frames["qvel"][rows] = clip.qpos, qvel
        for k, v in body_states(model, clip.qpos, qvel).items():
            frames[f"body_{k}"][rows] = v
    return MotionLibrary(
        **frames,
        clip_start=starts,
        clip_length=lengths,
        fit_error=np.array([c.fit_error for c in clips], dtype=np.float32),
        contact_error=np.array([c.contact_error for c in clips], dtype=np.float32),
        fps=float(fps),
        clip_names=tuple(c.name for c in clips),
        clip_sources=tuple(c.source for c in clips),
        body_names=tuple(model.body(b).name for b in range(1, model.nbody)),
    )


MIRROR_SUFFIX = "~mirror"


def with_mirrors(library: MotionLibrary, model: mujoco.MjModel) -> MotionLibrary:
    """`library` followed by every clip's left–right mirror (named clip + MIRROR_SUFFIX): the mirrored
    joint angles and velocities (body/mirror.py), their body states from MuJoCo kinematics. For a
    SMPL clip this is the SMPL pose mirrored before retargeting (retargeting SMPL is exact: each joint's
    rotation R becomes M R M), and for the teacher's trajectory it is the mirrored clip's trajectory
    as far as the body is symmetric (body/mirror.py)."""
    clips = []
    for c, name in enumerate(library.clip_names):
        rows = slice(int(library.clip_start[c]), int(library.clip_start[c] + library.clip_length[c]))
        fit, contact = float(library.fit_error[c]), float(library.contact_error[c])
        clips.append(RetargetedClip(
            name=name + MIRROR_SUFFIX, source=library.clip_sources[c], fps=library.fps,
            qpos=mirror_qpos(np.asarray(library.qpos[rows], np.float64)), fit_error=fit, fit_error_max=fit,
            contact_error=contact, qvel=mirror_qvel(np.asarray(library.qvel[rows], np.float64))))
    mirrored = build_library(clips, model)
    frames = {k: np.concatenate([getattr(library, k), getattr(mirrored, k)]) for k in
              (*_FRAME_FIELDS, "clip_length", "fit_error", "contact_error")}
    starts = np.r_[library.clip_start, mirrored.clip_start + len(library.qpos)].astype(np.int32)
    return replace(library, **frames, clip_start=starts, clip_names=library.clip_names + mirrored.clip_names,
                   clip_sources=library.clip_sources + mirrored.clip_sources)


def save_library(library: MotionLibrary, path: str | Path) -> None:
    """Write the library as an npz (no pickles), atomically: a partial file never replaces `path`."""
    arrays = {f.name: np.asarray(getattr(library, f.name)) for f in fields(MotionLibrary)}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, format_version=np.array(FORMAT_VERSION), **arrays)


def load_library(path: str | Path, model: mujoco.MjModel | None = None) -> MotionLibrary:
    """Read a library file (numpy arrays; `jax.device_put` moves it to the device).

    With `model`, also check the library was made for that humanoid.
    """
    path = Path(path)
    data = read_npz_arrays(path)
    missing = [f.name for f in fields(MotionLibrary) if f.name not in data] + \
        (["format_version"] if "format_version" not in data else [])
    if missing:
        raise MotionFileError(path, f"not a motion library: missing {', '.join(missing)}")
    if int(data["format_version"]) != FORMAT_VERSION:
        raise MotionFileError(path, f"library format {int(data['format_version'])}, "
                                    f"this version reads {FORMAT_VERSION}")
    lib = MotionLibrary(**{
        f.name: (data[f.name].item() if f.name == "fps" else
                 tuple(str(s) for s in data[f.name]) if f.name in _META else data[f.name])
        for f in fields(MotionLibrary)})
    if lib.num_clips == 0:
        raise MotionFileError(path, "motion library holds no clips")
    check_finite(lib, path)
    if model is not None:
        check_compatible(lib, model, path)
    return lib


def check_finite(lib: MotionLibrary, path: str | Path) -> None:
    """Raise naming the first frame array holding NaN or inf, its first such frame and that frame's clip:
    a NaN reference would otherwise reach the env as NaN rewards and observations."""
    for name in _FRAME_FIELDS:
        values = getattr(lib, name)
        bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))  # frames
        if len(bad):
            clip = int(np.searchsorted(lib.clip_start, bad[0], side="right")) - 1
            more = f"; {len(bad)} frames in all" if len(bad) > 1 else ""
            raise MotionFileError(path, f"{name} holds NaN or inf (frame {bad[0] - lib.clip_start[clip]} "
                                        f"of clip {lib.clip_names[clip]}{more})")


def check_compatible(lib: MotionLibrary, model: mujoco.MjModel, path: str | Path) -> None:
    """Raise if the library was made for a humanoid other than `model`."""
    names = tuple(model.body(b).name for b in range(1, model.nbody))
    if lib.qpos.shape[1] != model.nq or len(lib.body_names) != len(names):
        raise MotionFileError(path, f"made for another humanoid: {lib.qpos.shape[1] - 7} joint "
                                    f"DoF and {len(lib.body_names)} bodies, the model has "
                                    f"{model.nq - 7} and {len(names)}")
    differ = [(theirs, ours) for ours, theirs in zip(names, lib.body_names) if ours != theirs]
    if differ:
        shown = ", ".join(f"{theirs} (the model: {ours})" for theirs, ours in differ[:4])
        more = f", ... ({len(differ)} in all)" if len(differ) > 4 else ""
        raise MotionFileError(path, f"made for another humanoid: body names differ: {shown}{more}")


def query(lib: MotionLibrary, clip_ids: jax.Array, times: jax.Array) -> MotionFrame:
    """Reference state at `times` (B,) seconds into clips `clip_ids` (B,), clamped to the clip.

    Interpolates between the two nearest frames: lerp for positions, angles and velocities,
    slerp for quaternions (the root's in qpos, and the bodies').
    """
    i0, i1, w = _neighbours(lib, clip_ids, times)
    lerp = partial(_lerp, i0, i1, w)
    qpos = lerp(lib.qpos)
    root_quat = _slerp(lib.qpos[i0, 3:7], lib.qpos[i1, 3:7], w)
    return MotionFrame(
        qpos=qpos.at[:, 3:7].set(root_quat),
        qvel=lerp(lib.qvel),
        body_pos=lerp(lib.body_pos),
        body_quat=_slerp(lib.body_quat[i0], lib.body_quat[i1], w[:, None]),
        body_lin_vel=lerp(lib.body_lin_vel),
        body_ang_vel=lerp(lib.body_ang_vel),
    )


def _neighbours(lib: MotionLibrary, clip_ids: jax.Array,
                times: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Library rows (B,) of the frames before and after `times` in `clip_ids` (clamped to the clip),
    and the weight (B,) of the later one."""
    length = lib.clip_length[clip_ids]
    frame = jnp.clip(times * lib.fps, 0.0, length - 1)
    f0 = jnp.floor(frame).astype(jnp.int32)
    start = lib.clip_start[clip_ids]
    return start + f0, start + jnp.minimum(f0 + 1, length - 1), frame - f0


def _lerp(i0: jax.Array, i1: jax.Array, w: jax.Array, x: jax.Array) -> jax.Array:
    ww = w.reshape(w.shape + (1,) * (x.ndim - 1))
    return x[i0] + ww * (x[i1] - x[i0])


def _slerp(q0: jax.Array, q1: jax.Array, w: jax.Array) -> jax.Array:
    """Shortest-path spherical interpolation of wxyz quaternions (..., 4) by weights (...)."""
    dot = jnp.sum(q0 * q1, axis=-1)
    q1 = jnp.where(dot[..., None] < 0, -q1, q1)
    theta = jnp.arccos(jnp.clip(jnp.abs(dot), 0.0, 1.0))
    sin = jnp.sin(theta)
    near = sin < 1e-6  # nearly equal: lerp is exact enough and avoids 0/0
    safe = jnp.where(near, 1.0, sin)
    a = jnp.where(near, 1.0 - w, jnp.sin((1.0 - w) * theta) / safe)
    b = jnp.where(near, w, jnp.sin(w * theta) / safe)
    q = a[..., None] * q0 + b[..., None] * q1
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def load_motions(path: str | Path, model_path: str | None = None, cache: str | Path | None = None,
                 include: Sequence[str] = ()) -> MotionLibrary:
    """A packed library file (checked against the humanoid: a library made for another one is an
    error naming the file), or clip files/folders retargeted onto it; the humanoid is `model_path`
    (env.model_path), else the built-in one. `include`: fnmatch patterns of the clip files' names
    to keep (empty: all). With a `cache` folder, retargeted clips are packed into CACHE/<key>.npz, the
    key hashing the files' paths and contents, the humanoid and the motion code, and the same files
    are read back from there on later calls."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MotionFileError(path, "no such motion library, clip or folder")
    model = load_model(model_path or ASSET_PATH)
    if path.is_file() and path.suffix == ".npz":
        with np.load(path) as data:
            if "format_version" in data.files:
                if include:
                    raise MotionFileError(path, "is a packed library: motions.include picks clip files "
                                                "from a folder")
                return load_library(path, model)
    files = find_motion_files([path])
    if include:
        files = [f for f in files if any(fnmatch.fnmatch(f.name, p) for p in include)]
        if not files:
            raise MotionFileError(path, f"no clip file matches motions.include={list(include)}")
    cached = None if cache is None else Path(cache).expanduser() / _cache_name(path, files, model_path)
    if cached is not None and cached.exists():
        print(f"motions: reusing {cached} (the same {len(files)} files, humanoid and retargeting)")
        return load_library(cached, model)
    clips, rows = retarget_files(files, model, progress=False)
    for row in rows:
        if row[-1] != "ok":
            print(f"motions: {row[0]} {row[-1]}")
    if not clips:
        raise MotionFileError(path, "no clip could be retargeted (need .npz SMPL or .bvh files)")
    library = build_library(clips, model)
    if cached is not None:
        save_library(library, cached)
    return library


def _cache_name(path: Path, files: list[Path], model_path: str | None) -> str:
    """<16 hex digits>.npz, hashing the motion files under `path` (where they are in it and their bytes:
    clip names come from both), the humanoid and this package's code."""
    h = hashlib.sha256()
    named = [(str(f.relative_to(path)) if path.is_dir() else f.name, f) for f in files]
    code = sorted(Path(__file__).parent.glob("*.py"))
    named += [(f.name, f) for f in (Path(model_path or ASSET_PATH), *code)]
    for name, file in named:
        h.update(name.encode() + b"\0" + file.read_bytes())
    return f"{h.hexdigest()[:16]}.npz"
