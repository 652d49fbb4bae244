"""Probe the teacher's labels for a residual student (env.residual_actions): are they a controller,
and how far is the run's policy from them.

    .venv/bin/python tools/probe_labels.py RUN
    .venv/bin/python tools/probe_labels.py RUN --noise 0.1 0.03 --proposal zero previous --demos DEMOS

Every clip of RUN's library (its feed-forward: the teacher's run 0 targets) is played from the
reference's first frame under the protocol (0.5 m) on the teacher's own scene:
    feed-forward   the feed-forward replayed open loop;
    labels         at every control step the DAgger label (`Teacher.label`: MPPI at the executing
                   state, no warm plan, planned around the feed-forward plus a proposal: residual 0,
                   or the previous label's residual, as a student's own action would be) executed: the
                   controller a student that fitted those labels exactly would be.
Prints frames per clip, clips completed and the labels' residual RMS (rad). With --demos (the run's
teacher demonstrations), the run's policy (x0 = 0, full goals) at the demonstrated states of run 0,
where residual 0 is what the teacher did: its residual RMS (rad). Minutes on 2 cores (about 0.4 s a
label of 2 MPPI iterations): never a test.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend before mujoco loads)
import mujoco
import numpy as np
import torch

from humanoid_fpo import checkpoint
from humanoid_fpo.learn.prior import teacher_dataset
from humanoid_fpo.sim.env import make_env
from humanoid_fpo.sim.rewards import protocol_error
from humanoid_fpo.teacher.demos import load_demonstrations
from humanoid_fpo.teacher.mppi import ClipReference, Teacher
from humanoid_fpo.teacher.teach import make_teacher


def closed_loop(teacher: Teacher, ref: ClipReference, proposal: str | None, iterations: int,
                rng: np.random.Generator) -> tuple[int, float]:
    """Frames tracked from ref's first frame with the feed-forward alone (`proposal` None) or each
    step's label executed, and the labels' residual RMS (rad)."""
    model = teacher.model
    sim = mujoco.MjData(model)  # Teacher.label resets the teacher's own MjData
    sim.qpos[:], sim.qvel[:] = ref.qpos[0], ref.qvel[0]
    mujoco.mj_forward(model, sim)
    residual, squares = np.zeros(model.nu), []
    for f in range(ref.frames - 1):
        target = ref.base(f + 1)
        if proposal is not None:
            start = residual if proposal == "previous" else None
            target = teacher.label(ref, f, sim.qpos.copy(), sim.qvel.copy(), sim.qacc_warmstart.copy(), start,
                                   iterations, rng)
            residual = target - ref.base(f + 1)
            squares.append(np.mean(residual ** 2))
        sim.ctrl[:] = target
        mujoco.mj_step(model, sim, nstep=teacher.decimation)
        mujoco.mj_kinematics(model, sim)
        error = protocol_error(np.linalg.norm(sim.xpos[1:] - ref.body_pos[f + 1], axis=-1))
        if not np.isfinite(error) or error > teacher.cfg.fall_distance:
            return f, float(np.sqrt(np.mean(squares))) if squares else 0.0
    return ref.frames - 1, float(np.sqrt(np.mean(squares))) if squares else 0.0


def policy_residual(trained: checkpoint.TrainedPolicy, demos_path: Path) -> float:
    """RMS (rad) of the run's deterministic residual at the demonstrations' run-0 states, full goals."""
    demos = load_demonstrations(demos_path)
    keep = demos.run == 0
    demos = replace(demos, **{k: getattr(demos, k)[keep] for k in ("qpos", "qvel", "target", "action", "cost",
                                                                    "error", "clip", "frame", "run")})
    env = make_env(replace(trained.cfg.env, conditioning="full"), trained.library)
    data = teacher_dataset(env, demos)
    with torch.no_grad():
        action = trained.learner.eval_action(data["obs"]).clamp(-1, 1)
    return float((action * torch.tensor(np.array(env.action_scale))).square().mean().sqrt())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run trained with env.residual_actions=true")
    parser.add_argument("--noise", nargs="+", type=float,
                        help="the labels' sample noise, rad (default: the run's)")
    parser.add_argument("--proposal", nargs="+", default=["zero"], choices=["zero", "previous"])
    parser.add_argument("--iterations", type=int, default=2, help="MPPI iterations per label")
    parser.add_argument("--demos", type=Path,
                        help="the run's demonstrations: the policy's residual at their states")
    args = parser.parse_args()
    trained = checkpoint.load_trained(args.run)
    if not trained.cfg.env.residual_actions:
        raise SystemExit(f"{args.run}: not a residual run (env.residual_actions=false): "
                         "no feed-forward to label around")
    lib = trained.library
    refs = [ClipReference.of(lib, c, feedforward=True) for c in range(lib.num_clips)]
    settings = [("feed-forward", None, trained.cfg.teacher.noise)]
    settings += [(f"labels, proposal {p}, noise {n}", p, n) for n in args.noise or [trained.cfg.teacher.noise]
                 for p in args.proposal]
    for name, proposal, noise in settings:
        teacher = make_teacher(trained.cfg.env, replace(trained.cfg.teacher, noise=noise))
        rng = np.random.default_rng(trained.cfg.teacher.seed)
        runs = [closed_loop(teacher, ref, proposal, args.iterations, rng) for ref in refs]
        frames = np.array([f for f, _ in runs])
        done = int(np.sum(frames == np.array([r.frames - 1 for r in refs])))
        print(f"{name}: {frames.mean():.1f} frames per clip, {done} of {len(refs)} completed, "
              f"residual RMS {np.mean([r for _, r in runs]):.3f} rad", flush=True)
    if args.demos:
        print(f"policy at the teacher's states: residual RMS {policy_residual(trained, args.demos):.4f} rad")


if __name__ == "__main__":
    main()
