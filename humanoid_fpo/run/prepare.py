"""What a run consumes, decided in one place: the clips, what RL tracks, the held-out clips and the
teacher's demonstrations, from the composed config (or read back from the run folder on resume).

    data = prepare(cfg, run_dir, resume)   # rank 0 prepares, every rank receives it
    save(data, run_dir)                    # a new run's motions.npz (and feasible.npz)

Under torchrun rank 0 loads and teaches, and `distributed.broadcast_object` hands the result to the
other ranks, so that every rank tracks the same libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from humanoid_fpo.body.humanoid import ASSET_PATH, load_model
from humanoid_fpo.learn import distributed
from humanoid_fpo.motion.library import MotionLibrary, load_library, load_motions, save_library, with_mirrors
from humanoid_fpo.run.config import TrainConfig
from humanoid_fpo.sim.env import mean_pose
from humanoid_fpo.teacher.demos import Demonstrations, feasible_library, load_demonstrations
from humanoid_fpo.teacher.teach import teach


@dataclass(frozen=True)
class RunData:
    """The data of one run (host arrays; the envs move them to the device)."""

    cfg: TrainConfig
    """The composed config with env.default_pose filled (`with_default_pose`)."""
    library: MotionLibrary
    """The clips: what evaluation plays (motions.npz)."""
    tracked: MotionLibrary
    """What RL tracks: `library` itself, or with teacher.feasible_reference the teacher's trajectories
    of its clips (feasible.npz); with motions.mirror followed by their mirrors."""
    held_out: MotionLibrary | None
    """eval_motions' clips (never trained on), or None."""
    demos: Demonstrations | None
    """The teacher's demonstrations the feasible library was made from (None without a teacher or on
    resume, where feasible.npz is read back)."""


def with_default_pose(cfg: TrainConfig, library: MotionLibrary) -> TrainConfig:
    """cfg with env.default_pose filled in as `default_pose` says (library_mean: the library's mean
    pose) where it is unset: the action transform a run, and the teacher that teaches it, use."""
    if cfg.default_pose == "library_mean" and cfg.env.default_pose is None:
        return replace(cfg, env=replace(cfg.env, default_pose=mean_pose(library)))
    return cfg


def prepare(cfg: TrainConfig, run_dir: Path, resume: bool = False) -> RunData:
    """The run's data on every rank, prepared by rank 0 (`_prepare`)."""
    main = distributed.from_environment().main
    return distributed.broadcast_object(_prepare(cfg, run_dir, resume) if main else None)


def _prepare(cfg: TrainConfig, run_dir: Path, resume: bool) -> RunData:
    library = load_library(run_dir / "motions.npz") if resume else \
        load_motions(cfg.motions.path, cfg.env.model_path, cfg.motions.cache, cfg.motions.include)
    cfg = with_default_pose(cfg, library)
    demos, tracked = None, library
    if cfg.teacher.feasible_reference and resume:
        tracked = load_library(run_dir / "feasible.npz")
    elif cfg.teacher.feasible_reference:
        demos = _teach(cfg, library)
        tracked = feasible_library(demos, library, load_model(cfg.env.model_path or ASSET_PATH))
    if cfg.motions.mirror and not (resume and cfg.teacher.feasible_reference):  # feasible.npz has them
        tracked = with_mirrors(tracked, load_model(cfg.env.model_path or ASSET_PATH))
    held_out = load_motions(cfg.eval_motions, cfg.env.model_path, cfg.motions.cache) if cfg.eval_motions else None
    return RunData(cfg, library, tracked, held_out, demos)


def _teach(cfg: TrainConfig, library: MotionLibrary) -> Demonstrations:
    """The teacher's demonstrations of the training clips, in this run's scene and action transform."""
    if cfg.teacher.demos:
        return load_demonstrations(cfg.teacher.demos)
    demos, path = teach(library, cfg.env, cfg.teacher, log=print)
    print(f"teacher: {path}")
    return demos


def save(data: RunData, run_dir: Path) -> None:
    """A new run's libraries in its folder: motions.npz, and feasible.npz where RL tracks the teacher's
    trajectories (what `prepare(..., resume=True)` reads back)."""
    save_library(data.library, run_dir / "motions.npz")
    if data.tracked is not data.library:
        save_library(data.tracked, run_dir / "feasible.npz")
