"""The teacher's settings (`teacher.*`), with nothing heavy to import."""

from __future__ import annotations

from dataclasses import dataclass

from humanoid_fpo.util.typed_config import check_ranges


@dataclass(frozen=True)
class TeacherConfig:
    horizon: int = 18
    """Control steps planned ahead (0.6 s at 30 Hz); 12 and below were measured not to track."""
    knot_every: int = 6
    """Control steps between residual knots (the residual is linear between them)."""
    samples: int = 64
    """Rollouts per control step, the unperturbed previous plan among them."""
    noise: float = 0.1
    """rad, std of the sampled knot perturbations."""
    temperature: float = 1.0
    """λ: weights exp(−Δcost / (λ · quantile of Δcost))."""
    quantile: float = 0.1
    fall_cost: float = 10.0
    fall_distance: float = 0.5
    """m, the protocol's failure distance: in the cost, and where the executed clip rewinds."""
    escalation: tuple[tuple[int, float], ...] = ((30, 0.1), (24, 0.2), (30, 0.2))
    """(horizon, noise) rungs tried in turn when a clip fails; each rewind also draws a fresh stream."""
    rewind: int = 30
    """Frames a failure rewinds to re-plan from (1 s)."""
    max_rewinds: int = 6
    """Per run of a clip; past it the run ends at its failure."""
    retry_samples: int = 128
    """A run that fails after its rewinds is run again whole with this many samples (0: not), and the
    one that tracked further is kept: single_foot_balance_level3 needs it (BENCHMARKS.md, "Teacher")."""
    runs: int = 1
    """Runs per clip for the demonstrations: run 0 from the reference's first frame (the clip's
    figures), the others from perturbed starts with their own streams (coverage for a student)."""
    start_noise: float = 0.05
    """rad (joints) and rad/s or m/s ×4 (velocities): the start perturbation of runs 1 and on."""
    seed: int = 0
    threads: int = 0
    """MuJoCo threads of the rollouts (0: all cores)."""
    cache: str = ".cache/teacher"
    """Folder of finished runs and demonstrations, one sub-folder per library and settings."""
    feasible_reference: bool = False
    """RL tracks the teacher's trajectories (each clip as this body performed it, to its end or the
    teacher's failure) instead of the clips; evaluation stays on the clips."""
    demos: str | None = None
    """A demonstrations file to learn from instead of teaching the training clips (`teach`'s output,
    e.g. of a larger library: only the training clips' steps are used)."""
    target_bounds: str = "action"
    """action: targets kept where the env's normalised actions reach (offset ± scale, within the
    actuators' range), so that a student can output every teacher action; ctrl: the actuators' range."""

    def rung(self, level: int) -> tuple[int, float]:
        """(horizon, noise) of escalation level `level` (0, or no escalation: the base settings; a rewind
        still draws a fresh stream)."""
        if level == 0 or not self.escalation:
            return self.horizon, self.noise
        return self.escalation[min(level, len(self.escalation)) - 1]


def check_teacher(cfg: TeacherConfig) -> None:
    check_ranges(cfg, "teacher.", {
        "knot_every": "positive", "samples": "positive", "rewind": "positive", "runs": "positive",
        "max_rewinds": "non-negative", "retry_samples": "non-negative", "temperature": "positive",
        "quantile": "in (0, 1]", "fall_cost": "non-negative", "fall_distance": "positive",
        "start_noise": "non-negative", "threads": "non-negative"})
    for horizon, noise in ((cfg.horizon, cfg.noise), *cfg.escalation):
        if horizon < cfg.knot_every or horizon % cfg.knot_every:
            raise ValueError(f"teacher horizon {horizon} must be a positive multiple of "
                             f"teacher.knot_every={cfg.knot_every}")
        if noise < 0:
            raise ValueError(f"teacher noise must be non-negative, got {noise}")
    if cfg.target_bounds not in ("action", "ctrl"):
        raise ValueError(f"teacher.target_bounds: unknown {cfg.target_bounds!r}; choose from action, ctrl")
