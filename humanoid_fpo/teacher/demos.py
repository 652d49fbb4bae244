"""Demonstrations: what the teacher did on every clip of a library, in one npz (no pickles).

Per step (N rows, step t of a run goes from frame t to t + 1 of its clip): `qpos` (N, nq) and `qvel`
(N, nv) the state before the step, in the library's world; `target` (N, A) the executed PD targets
(rad) and `action` (N, A) the same as the env's normalised action; `cost` (N,) the plan's expected
cost; `error` (N,) the protocol error after the step (m); `clip`, `frame`, `run` (N,) where it was.
Per run (R rows): `run_clip`, `run_index`, `run_frames`, `run_success`, `run_g_mpjpe_mm`,
`run_seconds`, `run_rewinds`, `run_level`, `run_samples`. Whole file: `clip_names`, `key` (the library and teacher
settings it was made from) and `settings` (JSON of the teacher and scene settings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import mujoco
import numpy as np

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.motion.amass import read_npz_arrays
from humanoid_fpo.motion.library import MotionLibrary, build_library
from humanoid_fpo.motion.retarget import RetargetedClip
from humanoid_fpo.motion.source import MotionFileError
from humanoid_fpo.teacher.mppi import STEPS, Trajectory

FORMAT = "humanoid_fpo demonstrations"
FORMAT_VERSION = 2  # 2: run_samples
STEP_FIELDS = (*STEPS, "clip", "frame", "run")
RUN_FIELDS = ("run_clip", "run_index", "run_frames", "run_success", "run_g_mpjpe_mm", "run_seconds",
              "run_rewinds", "run_level", "run_samples")


@dataclass(frozen=True)
class Demonstrations:
    qpos: np.ndarray
    qvel: np.ndarray
    target: np.ndarray
    action: np.ndarray
    cost: np.ndarray
    error: np.ndarray
    clip: np.ndarray
    frame: np.ndarray
    run: np.ndarray
    run_clip: np.ndarray
    run_index: np.ndarray
    run_frames: np.ndarray
    run_success: np.ndarray
    run_g_mpjpe_mm: np.ndarray
    run_seconds: np.ndarray
    run_rewinds: np.ndarray
    run_level: np.ndarray
    run_samples: np.ndarray
    clip_names: tuple[str, ...]
    key: str
    settings: str

    @property
    def steps(self) -> int:
        return len(self.clip)

    def first_runs(self) -> np.ndarray:
        """(C,) row of each clip's run 0 (from the reference's first frame: the clip's figures)."""
        rows = {int(c): i for i, (c, r) in enumerate(zip(self.run_clip, self.run_index)) if r == 0}
        return np.array([rows[c] for c in range(len(self.clip_names))])


def from_runs(runs: list[tuple[int, int, Trajectory]], clip_names: tuple[str, ...], key: str,
              settings: dict) -> Demonstrations:
    """Pack (clip, run index, trajectory) triples; every clip needs its run 0."""
    def steps(name):
        return np.concatenate([getattr(t, name) for _, _, t in runs]) if runs else np.zeros(0)

    per_step = {name: steps(name) for name in STEPS}
    where = {name: np.concatenate([np.full(t.frames, v, np.int32) if name != "frame" else
                                   np.arange(t.frames, dtype=np.int32) for v, t in
                                   ((c if name == "clip" else r, t) for c, r, t in runs)])
             for name in ("clip", "frame", "run")}
    table = {"run_clip": [c for c, _, _ in runs], "run_index": [r for _, r, _ in runs],
             "run_frames": [t.frames for *_, t in runs], "run_success": [t.success for *_, t in runs],
             "run_g_mpjpe_mm": [t.g_mpjpe_mm for *_, t in runs], "run_seconds": [t.seconds for *_, t in runs],
             "run_rewinds": [t.rewinds for *_, t in runs], "run_level": [t.level for *_, t in runs],
             "run_samples": [t.samples for *_, t in runs]}
    demos = Demonstrations(**per_step, **where, **{k: np.asarray(v) for k, v in table.items()},
                           clip_names=tuple(clip_names), key=key, settings=json.dumps(settings, sort_keys=True))
    check(demos, "demonstrations")
    return demos


def run_clip_name(name: str, run: int) -> str:
    """The feasible library's name for run `run` of clip `name` (run 0 keeps the clip's name)."""
    return name if run == 0 else f"{name}.run{run}"


def feasible_library(demos: Demonstrations, library: MotionLibrary, model: mujoco.MjModel) -> MotionLibrary:
    """`library` with every clip the demonstrations hold replaced by the teacher's run 0 of it, and
    each further run of it appended as a clip of its own (`run_clip_name`): the states a run went
    through (to the clip's last step, or its failure), a motion this body performed, so that every
    demonstrated step has its own run's next state as its goal; with the run's own velocities.
    fit_error is the run's mean protocol error against the clip (m)."""
    runs = sorted((demos.clip_names[demos.run_clip[r]], int(demos.run_index[r]), r) for r in range(len(demos.run_clip))
                  if demos.run_frames[r] >= 2)
    clips, extra = [], []
    for c, name in enumerate(library.clip_names):
        taught = [(index, r) for clip, index, r in runs if clip == name]
        if not taught or taught[0][0] != 0:  # no run 0 of it: the recorded clip stays
            rows = slice(int(library.clip_start[c]), int(library.clip_start[c] + library.clip_length[c]))
            clips.append(RetargetedClip(name=name, source=library.clip_sources[c], fps=library.fps,
                                        qpos=np.asarray(library.qpos[rows], np.float64),
                                        fit_error=float(library.fit_error[c]), fit_error_max=float(library.fit_error[c]),
                                        contact_error=float(library.contact_error[c]),
                                        qvel=np.asarray(library.qvel[rows], np.float64)))
        for index, r in taught:
            steps = (demos.clip == demos.run_clip[r]) & (demos.run == index)
            error = float(demos.run_g_mpjpe_mm[r]) / 1000
            (clips if index == 0 else extra).append(RetargetedClip(
                name=run_clip_name(name, index), source=library.clip_sources[c], fps=library.fps,
                qpos=np.asarray(demos.qpos[steps], np.float64), fit_error=error, fit_error_max=error,
                contact_error=float(library.contact_error[c]), qvel=np.asarray(demos.qvel[steps], np.float64)))
    return build_library(clips + extra, model)


def save_demonstrations(demos: Demonstrations, path: str | Path) -> None:
    """Write atomically: a partial file never replaces `path`."""
    arrays = {f.name: np.asarray(getattr(demos, f.name)) for f in fields(Demonstrations)}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION), **arrays)


def load_demonstrations(path: str | Path) -> Demonstrations:
    """Read a demonstrations file; a file that is not one, or is damaged, raises MotionFileError
    naming it and the problem."""
    path = Path(path)
    data = read_npz_arrays(path)
    if str(data.get("format", "")) != FORMAT:
        raise MotionFileError(path, "not a demonstrations file (made by `humanoid-fpo teach`)")
    if int(data.get("format_version", -1)) != FORMAT_VERSION:
        raise MotionFileError(path, f"demonstrations format {data.get('format_version')}, "
                                    f"this version reads {FORMAT_VERSION}")
    missing = [f.name for f in fields(Demonstrations) if f.name not in data]
    if missing:
        raise MotionFileError(path, f"damaged demonstrations: missing {', '.join(missing)}")
    demos = Demonstrations(**{f.name: (tuple(str(s) for s in data[f.name]) if f.name == "clip_names" else
                                       str(data[f.name]) if f.name in ("key", "settings") else data[f.name])
                              for f in fields(Demonstrations)})
    check(demos, path)
    return demos


def check(demos: Demonstrations, path: str | Path) -> None:
    """Raise MotionFileError naming `path` where the arrays disagree in length or hold NaNs."""
    n, r = demos.steps, len(demos.run_clip)
    for name in STEP_FIELDS:
        if len(getattr(demos, name)) != n:
            raise MotionFileError(path, f"damaged demonstrations: {name} has {len(getattr(demos, name))} "
                                        f"rows, clip has {n}")
    for name in RUN_FIELDS:
        if len(getattr(demos, name)) != r:
            raise MotionFileError(path, f"damaged demonstrations: {name} has {len(getattr(demos, name))} "
                                        f"rows, run_clip has {r}")
    for name in ("qpos", "qvel", "target", "action"):
        if not np.isfinite(getattr(demos, name)).all():
            raise MotionFileError(path, f"damaged demonstrations: {name} holds NaN or inf")
    if n and (demos.clip.min() < 0 or demos.clip.max() >= len(demos.clip_names)):
        raise MotionFileError(path, f"damaged demonstrations: clip indices outside 0..{len(demos.clip_names) - 1}")
    if int(np.sum(demos.run_frames)) != n:
        raise MotionFileError(path, f"damaged demonstrations: runs hold {int(np.sum(demos.run_frames))} "
                                    f"steps, the file {n}")
