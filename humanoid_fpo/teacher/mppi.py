"""The teacher: receding-horizon MPPI over PD-target residuals, planned from the true MuJoCo state.

Every control step the teacher rolls `samples` copies of the exact simulator state (qpos, qvel, the
solver's warm start) `horizon` control steps ahead through the engine contract's `Engine.rollout`
(sim/engines/: MuJoCo C's batch on its threads under env.backend=native, float64 as the executed
steps; a vmapped MJX scan under env.backend=mjx, float32, for a GPU), each under PD targets = the
reference's joint angles + a residual that is linear between knots every `knot_every` control
steps. Sample 0 is the previous plan shifted by one step, the others add N(0, noise²) per knot and
joint. Cost of a sample: Σ over the horizon of the protocol error² (mean position error of the 20
protocol bodies, m²; 10 m at each step of a sample that blew up) + `fall_cost` if any step passes
`fall_distance`. The new plan is the samples' average weighted by exp(−Δcost / (temperature ·
quantile of Δcost)); its first step is executed in the teacher's own MuJoCo C data (float64,
whichever engine plans) and the plan shifted.

Where the executed clip passes the protocol's 0.5 m, the teacher rewinds `rewind` frames to a saved
state and plan (SAMCON-style) and re-plans with the next rung of `escalation` (a longer horizon or
wider samples, and a fresh random stream), up to `max_rewinds` times per clip; past the failure it
drops back to the base settings. (`teach` runs a clip that still fails again whole with
`retry_samples` samples.) Deterministic per seed.

    teacher = Teacher(engine, model, TeacherConfig(), offset, scale, decimation=4)
    run = teacher.track(ClipReference.of(library, c), seed=0)   # a Trajectory: states, actions, figures
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import mujoco
import numpy as np

from humanoid_fpo.motion.library import MotionLibrary
from humanoid_fpo.sim.engines import Engine
from humanoid_fpo.sim.quiet_mujoco import quiet_warnings
from humanoid_fpo.sim.rewards import protocol_error
from humanoid_fpo.teacher.config import TeacherConfig, check_teacher


@dataclass(frozen=True)
class ClipReference:
    """What the teacher tracks: one clip's frames in the library's world (flat ground)."""

    name: str
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    body_pos: np.ndarray  # (T, 24, 3)

    @classmethod
    def of(cls, library: MotionLibrary, clip: int) -> ClipReference:
        """Clip `clip` of `library`."""
        rows = slice(int(library.clip_start[clip]), int(library.clip_start[clip] + library.clip_length[clip]))
        return cls(library.clip_names[clip], *(np.asarray(getattr(library, k)[rows], np.float64)
                                               for k in ("qpos", "qvel", "body_pos")))

    @property
    def frames(self) -> int:
        return len(self.qpos)

    def base(self, frames: np.ndarray | int) -> np.ndarray:
        """(..., A) rad, the PD targets at residual 0 of the steps into `frames`: their joint angles."""
        return self.qpos[frames, 7:]

    def part(self, first: int, last: int) -> ClipReference:
        """Frames first..last - 1 (clamped to the clip) as a reference of their own."""
        rows = slice(first, min(last, self.frames))
        return ClipReference(self.name, self.qpos[rows], self.qvel[rows], self.body_pos[rows])


STEPS = ("qpos", "qvel", "target", "action", "cost", "error")
"""The per-step fields of a Trajectory (and of the demonstrations file)."""


@dataclass
class Trajectory:
    """One run of the teacher on a clip: step t goes from frame t to t + 1."""

    qpos: np.ndarray  # (S, nq) state before step t
    qvel: np.ndarray  # (S, nv)
    target: np.ndarray  # (S, A) rad, the executed PD targets
    action: np.ndarray  # (S, A) the same as the env's normalised action
    cost: np.ndarray  # (S,) the plan's expected cost (weighted over samples)
    error: np.ndarray  # (S,) m, protocol error after the step
    success: bool
    rewinds: int
    level: int  # the highest escalation level used
    samples: int  # rollouts per control step
    seconds: float

    @property
    def frames(self) -> int:
        """Frames tracked (the protocol's count: steps before the failure or the clip's end)."""
        return len(self.error)

    @property
    def g_mpjpe_mm(self) -> float:
        return 1000 * float(self.error.mean()) if len(self.error) else 0.0


def _interpolation(horizon: int, every: int, times: np.ndarray) -> np.ndarray:
    """(len(times), K) weights of the K = horizon/every + 1 knots at control steps `times` (clamped)."""
    knots = np.arange(horizon // every + 1) * every
    t = np.clip(times, 0, horizon).astype(float)
    return np.stack([np.interp(t, knots, np.eye(len(knots))[k]) for k in range(len(knots))], -1)


class Teacher:
    """MPPI over `cfg.samples` rollouts by `engine` of the scene `model` (the engine's)."""

    def __init__(self, engine: Engine, model: mujoco.MjModel, cfg: TeacherConfig, offset: np.ndarray,
                 scale: np.ndarray, decimation: int):
        check_teacher(cfg)
        self.engine, self.model, self.cfg, self.decimation = engine, model, cfg, decimation
        self.offset, self.scale = np.asarray(offset, np.float64), np.asarray(scale, np.float64)
        low, high = model.actuator_ctrlrange.T
        if cfg.target_bounds == "action":
            low, high = np.maximum(low, self.offset - self.scale), np.minimum(high, self.offset + self.scale)
        self.low, self.high = low, high
        self.data = mujoco.MjData(model)

    def track(self, ref: ClipReference, seed: int = 0, run: int = 0,
              start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Trajectory:
        """One run over `ref` with rewinds: from its first frame (run 0), a perturbed one (run > 0), or
        the state `start` = (qpos, qvel, solver warm start) given at its first frame."""
        cfg, start_time = self.cfg, time.perf_counter()
        rng = np.random.default_rng([seed, run, 0])
        d = self.data
        mujoco.mj_resetData(self.model, d)
        d.qpos[:], d.qvel[:] = ref.qpos[0], ref.qvel[0]
        if start is not None:
            d.qpos[:], d.qvel[:], d.qacc_warmstart[:] = start
        elif run:
            d.qpos[7:] += cfg.start_noise * rng.standard_normal(self.model.nq - 7)
            d.qvel[:] += 4 * cfg.start_noise * rng.standard_normal(self.model.nv)
        mujoco.mj_forward(self.model, d)
        level, rewinds, top, hold_until = 0, 0, 0, -1
        plan = np.zeros((cfg.horizon // cfg.knot_every + 1, self.model.nu))
        saved = [self._save(plan)]  # per frame: the state and plan before its step
        steps: list[tuple] = []
        while len(steps) < ref.frames - 1:
            f = len(steps)
            if level and f > hold_until:
                level, plan = 0, self._resample(plan, *cfg.rung(0))
            plan, step = self._step(ref, f, plan, cfg.rung(level), rng)
            steps.append(step)
            if step[-1] <= cfg.fall_distance:
                saved.append(self._save(plan))
                continue
            if rewinds == cfg.max_rewinds:
                break
            rewinds += 1
            level = level + 1 if f <= hold_until else 1
            top, hold_until = max(top, level), f + cfg.rewind
            back = max(0, f - cfg.rewind)
            del steps[back:], saved[back + 1:]
            plan = self._resample(self._restore(saved[back]), *cfg.rung(level))
            rng = np.random.default_rng([seed, run, rewinds])
        columns = [np.asarray(c) for c in zip(*steps)] if steps else [np.zeros((0,))] * 6
        qpos, qvel, target, action, cost, error = columns
        return Trajectory(qpos=qpos, qvel=qvel, target=target, action=action, cost=cost, error=error,
                          success=len(steps) == ref.frames - 1 and bool((error <= cfg.fall_distance).all()),
                          rewinds=rewinds, level=top, samples=cfg.samples,
                          seconds=time.perf_counter() - start_time)

    def _step(self, ref: ClipReference, f: int, plan: np.ndarray, rung: tuple[int, float],
              rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
        """Plan at frame f from the executing state, execute one control step, shift the plan."""
        d, horizon = self.data, rung[0]
        plan, cost = self._plan(ref, f, plan, rung, rng)
        state = (d.qpos.copy(), d.qvel.copy())
        target = np.clip(ref.base(f + 1) + plan[0], self.low, self.high)
        d.ctrl[:] = target
        with quiet_warnings():  # a blow-up shows as a non-finite state: the clip fails there
            mujoco.mj_step(self.model, d, nstep=self.decimation)
        mujoco.mj_kinematics(self.model, d)
        executed = protocol_error(np.linalg.norm(d.xpos[1:] - ref.body_pos[f + 1], axis=-1))
        executed = float(executed) if np.isfinite(d.qpos).all() else float("inf")
        action = (target - self.offset) / self.scale
        every = self.cfg.knot_every
        shift = _interpolation(horizon, every, np.arange(horizon // every + 1) * every + 1)
        return shift @ plan, (*state, target, action, cost, executed)

    def _plan(self, ref: ClipReference, f: int, plan: np.ndarray, rung: tuple[int, float],
              rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """One MPPI update of `plan` (K, A) from the executing state: the samples' weighted average
        and its expected cost."""
        cfg, d, n = self.cfg, self.data, self.cfg.samples
        horizon, noise = rung
        ahead = np.minimum(f + 1 + np.arange(horizon), ref.frames - 1)  # the frames each step aims at
        knots = np.repeat(plan[None], n, 0)
        knots[1:] += noise * rng.standard_normal(knots[1:].shape)
        weights = _interpolation(horizon, cfg.knot_every, np.arange(horizon))  # (H, K)
        targets = np.clip(ref.base(ahead) + np.einsum("hk,skj->shj", weights, knots), self.low, self.high)
        futures = self.engine.rollout(d.qpos, d.qvel, d.qacc_warmstart, targets)
        pos = futures.xpos[:, :, 1:]  # (S, H, 24, 3); row 0 is the world
        error = protocol_error(np.linalg.norm(pos - ref.body_pos[ahead][None], axis=-1))
        error = np.where(np.isfinite(error) & ~futures.failed[:, None], error, 10.0)
        cost = (error ** 2).sum(1) + cfg.fall_cost * (error > cfg.fall_distance).any(1)
        delta = cost - cost.min()
        w = np.exp(-delta / (cfg.temperature * max(np.quantile(delta, cfg.quantile), 1e-9)))
        w /= w.sum()
        return np.einsum("s,skj->kj", w, knots), float(w @ cost)

    def _resample(self, plan: np.ndarray, horizon: int, noise: float) -> np.ndarray:
        """The plan (K, A) re-knotted for `horizon` (its values at the new knot times, held past its end)."""
        old = (len(plan) - 1) * self.cfg.knot_every
        times = np.arange(horizon // self.cfg.knot_every + 1) * self.cfg.knot_every
        return _interpolation(old, self.cfg.knot_every, times) @ plan

    def _save(self, plan: np.ndarray) -> tuple:
        d = self.data
        return (d.qpos.copy(), d.qvel.copy(), d.qacc_warmstart.copy(), d.ctrl.copy(), d.time, plan.copy())

    def _restore(self, saved: tuple) -> np.ndarray:
        d = self.data
        d.qpos[:], d.qvel[:], d.qacc_warmstart[:], d.ctrl[:], d.time, plan = saved
        return plan
