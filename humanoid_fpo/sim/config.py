"""The env's settings, with nothing heavy to import: what `train` composes and checks before JAX,
MuJoCo or torch load (sim/env.py and its parts hold the code they configure)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field

from humanoid_fpo.util.typed_config import check_ranges

MODES = ("full", "hands", "root")
"""Goal conditioning, densest first: all goals; pelvis and wrist positions; pelvis position."""
TERRAIN_TYPES = ("flat", "rough", "slopes", "waves", "steps")
TERMINATIONS = ("any_body", "mean_body")
ENGINES = {"mjx": "humanoid_fpo.sim.engines.mjx", "native": "humanoid_fpo.sim.engines.native",
           "warp": "humanoid_fpo.sim.engines.warp"}
"""env.backend → the module of that physics engine (sim/engines/; imported when chosen). A new engine
is one module and one line here."""
ENGINE_PACKAGES = {"warp": ("warp", "warp-lang==1.18.0")}
"""env.backend → (module, pip requirement) of an engine whose package is optional: checked with the
config, before any work."""


def run_modes(conditioning: str, goal_drop_ratio: float) -> list[int]:
    """Goal modes (indices into MODES) a run trains: its own, and the sparser ones it drops to."""
    base = MODES.index(conditioning)
    return list(range(base, len(MODES) if goal_drop_ratio > 0 else base + 1))


@dataclass(frozen=True)
class TerrainConfig:
    """Which tiles exist and how hard each level is; (easiest, hardest) pairs are lerped by level."""

    types: tuple[str, ...] = ("flat",)
    """Terrain types, one tile column each; only `flat` gives a plane (the fastest contacts)."""
    num_levels: int = 5
    tile_size: float = 8.0
    """m, side of a square tile."""
    spacing: float = 0.1
    """m between heightfield samples."""
    border: float = 8.0
    """m of flat ground around the tiles (clips walk off their tile)."""
    platform: float = 1.0
    """m, half-width of the flat platform at the centre of slopes and steps."""
    rough_amplitude: tuple[float, float] = (0.01, 0.05)
    """m, uniform height noise."""
    slope: tuple[float, float] = (0.05, 0.3)
    """rise over run of the pyramid slopes."""
    wave_amplitude: tuple[float, float] = (0.02, 0.15)
    wave_length: float = 2.0
    step_height: tuple[float, float] = (0.02, 0.12)
    step_width: float = 0.5
    seed: int = 0
    curriculum: bool = True
    """Move an env up a level after it finishes an episode, down after it fails."""
    init_max_level: int = 0
    """Envs start on levels 0..init_max_level."""


@dataclass(frozen=True)
class RandomizeConfig:
    friction: tuple[float, float] | None = (0.7, 1.3)
    """Scale of the sliding friction of the contact pairs."""
    mass: tuple[float, float] | None = (0.95, 1.05)
    """Scale of each body's mass (and inertia)."""
    kp: tuple[float, float] | None = (0.9, 1.1)
    """Scale of each actuator's stiffness."""
    kv: tuple[float, float] | None = (0.9, 1.1)
    """Scale of each actuated joint's damping (the PD damping; see body/humanoid.py)."""
    push_velocity: float | None = None
    """m/s, largest horizontal velocity kick given to the root."""
    push_interval: float = 4.0
    """s, mean time between pushes."""
    obs_noise: float | None = None
    """Standard deviation of Gaussian noise on the actor's self and height-scan observations."""


@dataclass(frozen=True)
class RewardConfig:
    """(weight, scale) per tracking term; the power penalty is off for the first steps of an episode."""

    pos: tuple[float, float] = (0.5, 100.0)
    rot: tuple[float, float] = (0.3, 10.0)
    vel: tuple[float, float] = (0.1, 0.1)
    ang_vel: tuple[float, float] = (0.1, 0.1)
    power_weight: float = 0.0005
    power_warmup_steps: int = 3
    floor: float | None = 0.0
    """Lower bound of the total: a flailing early policy's power penalty can outweigh its tracking
    terms, and a negative reward would pay it to end its episodes sooner. None: no bound."""


@dataclass(frozen=True)
class ObsConfig:
    scan_extent: tuple[float, float] = (1.6, 1.2)
    """m, forward × lateral size of the height-scan grid centred on the root."""
    scan_spacing: float = 0.2
    """m between height-scan points."""
    actor_height_scan: bool = True
    """False: the actor's height scan reads 0 everywhere (the critic keeps it), the ablation that
    measures what the scan buys on rough ground (tools/bench_terrain.py)."""


@dataclass(frozen=True)
class TerminationCurriculum:
    """ASAP's termination curriculum (training only; evaluation keeps its protocol): the termination
    distance starts lenient at `start` and, after every iteration, shrinks by the factor 1 − rate
    while the mean episode length is above `tighten_above` control steps, grows by 1 + rate while it
    is below `loosen_below`, and stays within [env.termination_distance, start]."""

    start: float | None = None
    """m; None: no curriculum, env.termination_distance throughout."""
    rate: float = 0.05
    tighten_above: float = 25.0
    """Control steps (ASAP: 42 at 50 Hz, about the same 0.8 s)."""
    loosen_below: float = 20.0


@dataclass(frozen=True)
class EnvConfig:
    num_envs: int = 4096
    backend: str = "auto"
    """Physics: mjx (MJX in JAX, batched on a GPU), native (MuJoCo C on CPU threads), warp (MJX's
    Warp implementation, MuJoCo Warp's CUDA kernels; needs warp-lang), or auto (mjx where JAX sees a
    GPU, else native; never warp)."""
    threads: int = 0
    """CPU threads of the native backend (0: all cores)."""
    control_dt: float = 1.0 / 30.0
    """s; the library's frame period (motion clips are resampled to 30 fps)."""
    physics_dt: float = 1.0 / 120.0
    """s; must divide control_dt (the decimation is control_dt / physics_dt)."""
    solver: str = "newton"
    """Constraint solver: newton, or cg (about 2x faster per step on the CPU, less exact)."""
    solver_iterations: int = 4
    ls_iterations: int = 8
    contact: str = "feet"
    """Bodies that touch the ground: a key of humanoid.CONTACT_SETS."""
    conditioning: str = "full"
    """Goal the actor sees: full | hands | root."""
    goal_drop_ratio: float = 0.0
    """Chance that an episode sees one of the sparser modes instead (mixes modes for one policy)."""
    max_episode_steps: int | None = 300
    """Truncation; episodes also end at the clip's last frame. None: the clip's end only."""
    termination: str = "any_body"
    """any_body: any body farther than termination_distance from its reference (training);
    mean_body: the mean error of the 20 protocol bodies (evaluation)."""
    termination_distance: float = 0.25
    """m, at reset; the trainer's termination curriculum may move it (`with_termination_distance`),
    never below this value."""
    random_heading: bool = True
    random_start: bool = True
    """Start at a random frame; else at frame 0."""
    resample_clips: bool = True
    """Draw a clip at every reset (weighted to failing clips); else replay the env's clip."""
    clip_uniform_share: float = 0.5
    """Part of the clip sampling spread evenly; the rest goes by failure rate."""
    clip_fail_smoothing: float = 0.05
    """Weight of the latest episode outcomes in each clip's failure-rate average."""
    max_joint_speed: float = 1000.0
    """rad/s or m/s; a faster (or non-finite) physics state is treated as blown up and reset."""
    default_pose: tuple[float, ...] | None = None
    """rad, the PD target of each actuated joint at action 0 (BeyondMimic/mjlab style; the
    trainer fills in the library's mean pose); None: the middle of each joint's range (PHC)."""
    model_path: str | None = None
    """Humanoid MJCF (default: assets/humanoid.xml)."""
    terrain: TerrainConfig = field(default_factory=TerrainConfig)
    randomize: RandomizeConfig = field(default_factory=RandomizeConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    obs: ObsConfig = field(default_factory=ObsConfig)

    @property
    def decimation(self) -> int:
        return round(self.control_dt / self.physics_dt)


def check_terrain(cfg: TerrainConfig, prefix: str = "env.terrain.") -> None:
    """Raise ValueError naming the first terrain setting out of its range."""
    unknown = [t for t in cfg.types if t not in TERRAIN_TYPES]
    if unknown or not cfg.types:
        raise ValueError(f"{prefix}types: unknown terrain type(s) {unknown or '(none given)'}; "
                         f"choose from {', '.join(TERRAIN_TYPES)}")
    if cfg.num_levels < 1 or not 0 <= cfg.init_max_level < cfg.num_levels:
        raise ValueError(f"terrain needs num_levels >= 1 and 0 <= init_max_level < num_levels, "
                         f"got {cfg.num_levels} and {cfg.init_max_level}")
    check_ranges(cfg, prefix, {"tile_size": "positive", "spacing": "positive", "border": "non-negative",
                               "platform": "non-negative", "rough_amplitude": "non-negative",
                               "slope": "non-negative", "wave_amplitude": "non-negative",
                               "wave_length": "positive", "step_height": "non-negative",
                               "step_width": "positive"})
    if cfg.tile_size < 2 * cfg.spacing:
        raise ValueError(f"terrain spacing {cfg.spacing} m does not fit tiles of {cfg.tile_size} m")


def check_env(cfg: EnvConfig) -> None:
    """Raise ValueError naming the first env setting (`env.*`) that is not one of its choices or is
    out of its range; what needs the library or the humanoid is checked by `sim.env.make_env`."""
    backends = (*ENGINES, "auto")  # read now: an engine registered after import counts
    for name, what, choices in (("backend", "backend", backends), ("conditioning", "conditioning mode", MODES),
                                ("termination", "termination", TERMINATIONS)):
        value = getattr(cfg, name)
        if value not in choices:
            raise ValueError(f"env.{name}: unknown {what} {value!r}; choose from {', '.join(choices)}")
    module, requirement = ENGINE_PACKAGES.get(cfg.backend, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise ValueError(f"env.backend={cfg.backend} needs the {module} package: pip install {requirement}")
    check_ranges(cfg, "env.", {
        "num_envs": "positive", "threads": "non-negative", "control_dt": "positive", "physics_dt": "positive",
        "solver_iterations": "positive", "ls_iterations": "positive", "goal_drop_ratio": "in [0, 1]",
        "max_episode_steps": "positive", "termination_distance": "positive",
        "clip_uniform_share": "in [0, 1]", "clip_fail_smoothing": "in (0, 1]", "max_joint_speed": "positive",
        "randomize.friction": "positive", "randomize.mass": "positive", "randomize.kp": "positive",
        "randomize.kv": "positive", "randomize.push_velocity": "non-negative",
        "randomize.push_interval": "positive", "randomize.obs_noise": "non-negative",
        "reward.pos": "non-negative", "reward.rot": "non-negative", "reward.vel": "non-negative",
        "reward.ang_vel": "non-negative", "reward.power_weight": "non-negative",
        "reward.power_warmup_steps": "non-negative", "obs.scan_extent": "positive",
        "obs.scan_spacing": "positive"})
    if not math.isclose(cfg.decimation * cfg.physics_dt, cfg.control_dt, rel_tol=1e-6) or cfg.decimation < 1:
        raise ValueError(f"env.physics_dt {cfg.physics_dt:g} s does not divide control_dt {cfg.control_dt:g} s")
    check_terrain(cfg.terrain)
