"""`humanoid-fpo teach`: the teacher on every clip of a library, cached and resumable per clip.

Each run of a clip is written to `CACHE/<key>/runs/` as soon as it ends, so an interrupted `teach`
resumes where it stopped; `key` hashes the library's arrays, the teacher's settings and the scene
(physics and control period, solver, contacts, humanoid, action transform, the rollouts' engine where
it is not native), so a change to any of them starts afresh and the same command reuses the finished
work. `teacher.runs` is not in the key (run r of a clip is the same whatever the count): more runs
add to the finished ones. The whole set is packed into `CACHE/<key>/demos.npz` (`demos.<N>runs.npz`
for N runs a clip).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.body.humanoid import ASSET_PATH
from humanoid_fpo.motion.library import MotionLibrary
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.engines import make_engine, resolve_backend
from humanoid_fpo.sim.env import action_transform
from humanoid_fpo.sim.scene import make_scene
from humanoid_fpo.sim.terrain import make_terrain
from humanoid_fpo.teacher.config import TeacherConfig, check_teacher
from humanoid_fpo.teacher.demos import Demonstrations, from_runs, load_demonstrations, save_demonstrations
from humanoid_fpo.teacher.mppi import STEPS, ClipReference, Teacher, Trajectory

_FIGURES = ("success", "rewinds", "level", "samples", "seconds")


def scene_settings(env: EnvConfig) -> dict:
    """The env settings the teacher's physics depends on, its rollouts' engine among them."""
    settings = {"physics_dt": env.physics_dt, "control_dt": env.control_dt, "solver": env.solver,
                "solver_iterations": env.solver_iterations, "ls_iterations": env.ls_iterations,
                "contact": env.contact, "model_path": env.model_path,
                "default_pose": None if env.default_pose is None else list(env.default_pose)}
    backend = resolve_backend(env).backend
    if backend != "native":  # named only off native, so that caches from before other engines stay valid
        settings["backend"] = backend
    return settings


def planning(cfg: TeacherConfig) -> dict:
    """The settings that change what the teacher does (not its threads, files or how a student uses it)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("threads", "cache", "demos", "feasible_reference")}


def teacher_key(library: MotionLibrary, env: EnvConfig, cfg: TeacherConfig) -> str:
    """16 hex digits naming (library arrays, the teacher's planning settings, scene, humanoid)."""
    h = hashlib.sha256()
    for name in ("qpos", "qvel", "body_pos", "clip_start", "clip_length"):
        h.update(np.ascontiguousarray(getattr(library, name)).tobytes())
    h.update("\0".join(library.clip_names).encode())
    teacher = {k: v for k, v in planning(cfg).items() if k != "runs"}
    h.update(json.dumps({"teacher": teacher, "scene": scene_settings(env)}, sort_keys=True).encode())
    # the humanoid as MuJoCo reads it: a comment (the generator's header, say) changes no trajectory
    h.update(re.sub(r"<!--.*?-->", "", Path(env.model_path or ASSET_PATH).read_text(), flags=re.S).encode())
    return h.hexdigest()[:16]


def make_teacher(env: EnvConfig, cfg: TeacherConfig) -> Teacher:
    """The teacher on `env`'s scene, action transform and engine (env.backend, auto resolved as the env
    does; on teacher.threads), on flat ground: it plans in the library's world."""
    check_teacher(cfg)
    terrain = make_terrain(env.terrain)
    if not terrain.flat:
        raise ValueError("the teacher plans on flat ground (the library's world); use terrain=flat")
    model = make_scene(terrain, env.contact, env.physics_dt, env.solver, env.solver_iterations,
                       env.ls_iterations, env.model_path)
    offset, scale = action_transform(env, model)
    engine = make_engine(replace(resolve_backend(env), threads=cfg.threads), model)
    return Teacher(engine, model, cfg, offset, scale, env.decimation)


def teach(library: MotionLibrary, env: EnvConfig, cfg: TeacherConfig,
          log=print) -> tuple[Demonstrations, Path]:
    """Run (or reuse) the teacher on every clip × `cfg.runs`; returns the demonstrations and their file
    (`cfg.cache`/<key>/demos.npz, or demos.<N>runs.npz)."""
    key = teacher_key(library, env, cfg)
    folder = Path(cfg.cache).expanduser() / key
    out = folder / ("demos.npz" if cfg.runs == 1 else f"demos.{cfg.runs}runs.npz")
    if out.exists():
        log(f"teach: reusing {out} (same library and teacher settings)")
        return load_demonstrations(out), out
    teachers = {cfg.samples: make_teacher(env, cfg)}

    def track(c: int, r: int) -> Trajectory:
        """Run r of clip c; where it fails, again with retry_samples (the time of both counted)."""
        ref = ClipReference.of(library, c)
        run = teachers[cfg.samples].track(ref, cfg.seed, r)
        if run.success or not cfg.retry_samples:
            return run
        wide = cfg.retry_samples
        if wide not in teachers:
            teachers[wide] = make_teacher(env, replace(cfg, samples=wide, retry_samples=0))
        again = teachers[wide].track(ref, cfg.seed, r)
        log(f"teach: {library.clip_names[c]} run {r} failed at frame {run.frames}; with {wide} samples "
            f"{'completed' if again.success else f'failed at frame {again.frames}'}")
        best = again if (again.success, again.frames) > (run.success, run.frames) else run
        return replace(best, seconds=run.seconds + again.seconds)

    jobs = [(c, r) for c in range(library.num_clips) for r in range(cfg.runs)]
    lengths = np.asarray(library.clip_length) - 1
    total, done, spent, runs = int(sum(lengths[c] for c, _ in jobs)), 0, 0.0, []
    log(f"teach: {library.num_clips} clip{'s' * (library.num_clips > 1)} × {cfg.runs} run{'s' * (cfg.runs > 1)}, "
        f"{total} control steps → {folder}")
    for i, (c, r) in enumerate(jobs, 1):
        path = folder / "runs" / f"{c:04d}.{r}.npz"
        trajectory = _read_run(path, log)
        cached = trajectory is not None
        trajectory = trajectory or track(c, r)
        if not cached:
            _write_run(trajectory, path)
            spent, done = spent + trajectory.seconds, done + int(lengths[c])
        runs.append((c, r, trajectory))
        left = sum(int(lengths[cc]) for cc, _ in jobs[i:])
        eta = spent / max(done, 1) * left if done else float("nan")
        log(f"teach {i}/{len(jobs)} {library.clip_names[c]} run {r}: {trajectory.frames}/{lengths[c]} frames, "
            f"{'ok' if trajectory.success else 'failed'}, {trajectory.g_mpjpe_mm:.0f} mm, "
            f"{trajectory.rewinds} rewinds, {'cached' if cached else f'{trajectory.seconds:.0f} s'}, "
            f"ETA {_clock(eta)}")
    settings = {"teacher": planning(cfg), "scene": scene_settings(env)}
    demos = from_runs(runs, library.clip_names, key, settings)
    save_demonstrations(demos, out)
    return demos, out


def clip_table(demos: Demonstrations, lengths: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Header and rows per clip (run 0: from the reference's first frame) for the printed table."""
    rows = []
    for c, row in enumerate(demos.first_runs()):
        rows.append([demos.clip_names[c], f"{demos.run_frames[row]}/{lengths[c] - 1}",
                     "yes" if demos.run_success[row] else "no", f"{demos.run_g_mpjpe_mm[row]:.0f}",
                     f"{demos.run_seconds[row]:.0f}", str(demos.run_rewinds[row]), str(demos.run_level[row]),
                     str(demos.run_samples[row])])
    return ["clip", "frames", "completed", "G-MPJPE mm", "seconds", "rewinds", "level", "samples"], rows


def summary(demos: Demonstrations) -> dict:
    """Run 0's figures over clips: completed, frames per clip, G-MPJPE (mm), minutes of teaching."""
    first = demos.first_runs()
    return {"clips": len(first), "completed": int(demos.run_success[first].sum()),
            "frames": float(demos.run_frames[first].mean()),
            "g_mpjpe_mm": float(demos.run_g_mpjpe_mm[first].mean()),
            "minutes": float(demos.run_seconds.sum() / 60)}


def _write_run(t: Trajectory, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **{k: getattr(t, k) for k in (*STEPS, *_FIGURES)})


def _read_run(path: Path, log) -> Trajectory | None:
    """The finished run at `path`, or None where there is none (or it cannot be read: it is redone)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            return Trajectory(**{k: data[k] for k in STEPS}, **{k: data[k].item() for k in _FIGURES})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        log(f"teach: {path} cannot be read ({e}); running it again")
        return None


def _clock(seconds: float) -> str:
    return "–" if not np.isfinite(seconds) else f"{int(seconds // 60)}:{int(seconds % 60):02d}"
