"""A run's config: the schema (TrainConfig and its parts), its checks, Hydra composition of configs/
with command-line overrides, config.yaml, and `train --help`. Nothing heavy is imported: a bad
override is reported before JAX, MuJoCo or torch load."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.util.typed_config import check_ranges, dotted_keys, from_dict, suggest, to_dict
from humanoid_fpo.learn.config import AlgoConfig, PriorConfig, check_algo, check_flow_steps, check_prior
from humanoid_fpo.sim.config import EnvConfig, TerminationCurriculum, check_env
from humanoid_fpo.teacher.config import TeacherConfig, check_teacher


WANDB_MODES = ("disabled", "offline", "online")


DEFAULT_POSES = ("library_mean", "mid_range")


@dataclass(frozen=True)
class MotionsConfig:
    path: str = "motions"
    """A packed motion library (.npz) or clip files/folders (npz SMPL, bvh), retargeted at start."""
    include: tuple[str, ...] = ()
    """Clip-file name patterns to keep from a folder (fnmatch, e.g. [walk_*, step_forward_*]); empty:
    every clip file."""
    cache: str | None = ".cache/motions"
    """Folder where retargeted clip files are kept as a packed library, reused while the files, the
    humanoid and the motion code are the same (null: retarget every run)."""
    mirror: bool = False
    """RL also tracks every clip's left–right mirror (`motion.library.with_mirrors`; the teacher's
    trajectories mirrored, not re-taught); evaluation plays the clips as recorded."""


@dataclass(frozen=True)
class WandbConfig:
    mode: str = "disabled"
    """disabled | offline (files under RUN_DIR/wandb, no network) | online."""
    project: str = "humanoid_fpo"
    entity: str | None = None


@dataclass(frozen=True)
class TrainConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    motions: MotionsConfig = field(default_factory=MotionsConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    termination_curriculum: TerminationCurriculum = field(default_factory=TerminationCurriculum)
    """Training's termination distance from lenient (start) to env.termination_distance."""
    prior: PriorConfig = field(default_factory=PriorConfig)
    """Motion-prior warm start: the actor fitted to the reference before the first iteration."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    """The sampling-based teacher (`humanoid-fpo teach`, teacher/)."""
    device: str = "auto"
    """cpu | cuda | auto (cuda where available). JAX picks its own default device."""
    seed: int = 0
    steps_per_env: int = 32
    """T: control steps per env per iteration; a rollout holds num_envs × T transitions."""
    iterations: int = 1000
    default_pose: str = "library_mean"
    """Sets env.default_pose (action 0) when a run starts and it is unset: library_mean (the
    mean pose of the training clips, recorded in config.yaml) or mid_range (PHC's joint-range middle)."""
    eval_every: int = 50
    """Iterations between success-rate evaluations on the training clips; a run also evaluates
    before its first iteration (iteration 0, see eval_at_start) and after its last (0: only those)."""
    eval_at_start: bool = True
    """Evaluate at iteration 0 (the prior's or the untrained policy's figures, the curves' first
    point). False (preset=gpu): the first evaluation waits for iteration eval_every, so that the
    evaluation env's compile does not come before the first iteration (a run of iterations=0
    still evaluates)."""
    eval_clips: int | None = None
    """Training clips evaluated during training: a fixed subset spread over the clips' lengths
    (`evaluate.stratified_clips`); the evaluation after the last iteration covers every clip, as
    `humanoid-fpo eval` does. None: as many as cost ≤ 5 % of the env steps between two evaluations
    (`evaluate.eval_clip_count`; on the CPU preset all 4 built-in clips, 17 of 28 ASAP ones); 0:
    every clip."""
    eval_motions: str | None = None
    """Clips evaluated beside the training clips at every evaluation (held out: never trained on),
    logged as eval_held_out/* and written to eval.json's "held_out"."""
    eval_flow_steps: int | None = None
    """Euler steps for evaluation (default: algo.flow_steps)."""
    checkpoint_every: int = 10
    plot_every: int = 5
    run_dir: str | None = None
    """Default: runs/<date>_<time>."""
    jax_cache: str | None = ".cache/jax"
    """Persistent JAX compilation cache (compiles of the env step take minutes on a CPU)."""
    overlap: bool = False
    """Collect the next rollout on another thread while the update runs, acting one policy version
    behind (the ratios stay to the acting policy). A resumed run collects its first rollout again,
    from where the env stands. On 2 cores it saved 4-8 % of the time and FPO++ learned less per
    minute (BENCHMARKS.md, "Training" and "Learning per env step and per minute"); it gains where torch
    and MuJoCo's threads have cores of their own."""
    torch_threads: int = 0
    """torch's intra-op threads (0: torch's default, one per core). With overlap on a CPU, 1 leaves
    the other cores to MuJoCo's threads."""
    progress: bool = True
    """A progress bar on a terminal; one line every `log_every` iterations when stdout is not one."""
    log_every: int = 10


def check_config(cfg: TrainConfig) -> None:
    """Raise ValueError naming the first setting (its full key) that is not one of its choices or out
    of its range: at composition, before anything heavy loads."""
    check_ranges(cfg, "", {"steps_per_env": "positive", "iterations": "non-negative", "eval_every": "non-negative",
                           "eval_clips": "non-negative", "checkpoint_every": "positive", "plot_every": "positive",
                           "log_every": "positive", "torch_threads": "non-negative"})
    check_flow_steps("eval_flow_steps", cfg.eval_flow_steps)
    check_env(cfg.env)
    check_algo(cfg.algo)
    check_prior(cfg.prior)
    check_teacher(cfg.teacher)
    if cfg.wandb.mode not in WANDB_MODES:
        raise ValueError(f"wandb.mode: unknown {cfg.wandb.mode!r}; choose from {', '.join(WANDB_MODES)}")
    if cfg.default_pose not in DEFAULT_POSES:
        raise ValueError(f"default_pose: unknown {cfg.default_pose!r}; "
                         f"choose from {', '.join(DEFAULT_POSES)}")
    if cfg.device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device: unknown {cfg.device!r}; choose from cpu, cuda, auto")
    tc = cfg.termination_curriculum
    if tc.start is not None and not (tc.start >= cfg.env.termination_distance and 0 < tc.rate < 1
                                     and tc.loosen_below <= tc.tighten_above):
        raise ValueError(f"termination_curriculum: needs start >= env.termination_distance "
                         f"({cfg.env.termination_distance}), 0 < rate < 1 and loosen_below <= tighten_above, "
                         f"got {tc}")
    if cfg.steps_per_env * cfg.env.num_envs < cfg.algo.minibatches:
        raise ValueError(f"a rollout of {cfg.env.num_envs} envs × {cfg.steps_per_env} steps is smaller than "
                         f"algo.minibatches={cfg.algo.minibatches}")


RETIRED = {"env.residual_actions": False, "env.residual_scale": 1.0, "algo.compile": False,
           "prior.source": "reference", "prior.dagger_labels": None, "prior.recovery_frames": 0}
"""Keys of routes retired on 2026-12-07 (BENCHMARKS.md keeps their figures; `git show ae7b525` has the
code), with the value at which a run did not use them (None: any value, the key served only a retired
route). A run written before holds them; the prior's keys did nothing where prior.steps was 0."""


def without_retired(data: dict) -> dict:
    """A saved config (plain dict) with the retired keys dropped where they did nothing; a run that used
    a retired route is a ValueError naming the key."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key, unused in RETIRED.items():
        group, name = key.split(".")
        if name in data.get(group, {}):
            value = data[group].pop(name)
            inert = unused is None or value == unused or (group == "prior" and not data[group].get("steps"))
            if not inert:
                raise ValueError(f"trained with {key}={value}, a route retired on 2026-12-07 "
                                 f"(`git show ae7b525` has it)")
    return data


def check_device(device: str, key: str = "device") -> None:
    """Raise ValueError in one line unless torch can use `device` (cpu, auto, cuda, cuda:N, ...), so
    that a machine without the GPU fails here, not as a damaged checkpoint or a CUDA traceback. Imports
    torch only for a device other than cpu and auto."""
    if device in ("cpu", "auto"):
        return
    import torch

    try:
        kind = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"{key} {device!r}: not a torch device ({str(e).splitlines()[0]})") from None
    if kind.type != "cuda":
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        build = "CPU build?" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ValueError(f"{key} {device} requested but torch sees no CUDA device (torch {torch.__version__}, "
                         f"{build})")
    if kind.index is not None and kind.index >= count:
        raise ValueError(f"{key} {device} requested but torch sees {count} CUDA device(s), cuda:0 to "
                         f"cuda:{count - 1}")


def read_config(path: Path) -> TrainConfig:
    """A run's config.yaml; a damaged or empty one is a one-line error naming it."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: damaged YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a run config (expected a mapping of settings, got {type(data).__name__})")
    try:
        return from_dict(TrainConfig, without_retired(data))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def write_config(cfg: TrainConfig, run_dir: Path) -> None:
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def lookup(cfg: dict, key: str):
    for part in key.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
PROJECT_ROOT = CONFIG_DIR.parent
PATHS_RULE = ("relative paths in a config (motions.path, eval_motions, teacher.demos and the caches) are "
              "read from the working directory where they exist there, else from the project root; "
              "run_dir stays relative to the working directory")


def project_path(path: str | None) -> str | None:
    """`path` as PATHS_RULE reads it: as given where it is absolute or exists from the working
    directory (or that is the project root), else under the project root (a cache not made yet too)."""
    if path is None or Path(path).expanduser().is_absolute() or Path(path).exists() or \
            Path.cwd().resolve() == PROJECT_ROOT:
        return path
    return str(PROJECT_ROOT / path)


def with_project_paths(cfg: TrainConfig) -> TrainConfig:
    """cfg with its input paths and caches read as PATHS_RULE says (`project_path`), so that a command
    run from another folder finds configs' defaults such as motions.path=motions."""
    return replace(cfg, jax_cache=project_path(cfg.jax_cache), eval_motions=project_path(cfg.eval_motions),
                   motions=replace(cfg.motions, path=project_path(cfg.motions.path),
                                   cache=project_path(cfg.motions.cache)),
                   teacher=replace(cfg.teacher, cache=project_path(cfg.teacher.cache),
                                   demos=project_path(cfg.teacher.demos)))


def compose(overrides: list[str]) -> tuple[TrainConfig, Path | None]:
    """Hydra composition of configs/train.yaml with command-line overrides (`algo=ppo`,
    `env.num_envs=128`, ...). `resume=RUN_DIR` instead reads RUN_DIR/config.yaml and applies the
    other overrides to it (e.g. `iterations=2000` to train longer). Paths as PATHS_RULE says
    (`with_project_paths`). Returns (config, resume dir)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    check_overrides(overrides)
    ConfigStore.instance().store(name="schema", node=to_dict(TrainConfig()))  # so any field can be overridden
    resume = [o.split("=", 1)[1] for o in overrides if o.startswith("resume=")]
    overrides = [o for o in overrides if not o.startswith("resume=")]
    if resume:
        run_dir = Path(resume[-1]).expanduser()
        if not (run_dir / "config.yaml").exists():
            raise FileNotFoundError(f"{run_dir}: not a run folder (no config.yaml) to resume")
        saved = to_dict(read_config(run_dir / "config.yaml"))
        check_resume_overrides(overrides, saved, run_dir)
        cfg = OmegaConf.merge(OmegaConf.create(saved), OmegaConf.from_dotlist(overrides))
        cfg.run_dir = str(run_dir)
    else:
        run_dir = None
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = hydra_compose(config_name="train", overrides=overrides)
    return with_project_paths(from_dict(TrainConfig, OmegaConf.to_container(cfg, resolve=True))), run_dir


RESUME_KEYS = ("iterations", "eval_every", "eval_clips", "eval_motions", "eval_flow_steps", "checkpoint_every",
               "plot_every", "log_every", "progress", "wandb", "device", "torch_threads", "overlap", "jax_cache",
               "env.threads", "env.backend")
"""What `resume=RUN_DIR KEY=VALUE` may change (`wandb`: every wandb.* key): how long the run trains, how
it is watched and where it runs. Every other setting made the run's networks, envs, checkpoint and
library (env.num_envs, algo=..., algo.actor, algo.n_mc, env.obs, seed, motions, ...) and stays."""


def check_resume_overrides(overrides: list[str], saved: dict, run_dir: Path) -> None:
    """Raise ValueError, one line naming the setting, for an override of a resumed run (config.yaml
    `saved`) that picks a config group or changes a setting outside RESUME_KEYS."""
    from omegaconf import OmegaConf

    groups = config_groups()
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        if any(key == k or key.startswith(k + ".") for k in RESUME_KEYS):
            continue
        if key in groups:
            reason = f"{key}={override.partition('=')[2]}: the {key} group cannot change on resume"
        else:
            value = lookup(to_dict(from_dict(TrainConfig, OmegaConf.to_container(
                OmegaConf.merge(OmegaConf.create(saved), OmegaConf.from_dotlist([override]))))), key)
            if value == lookup(saved, key):
                continue
            reason = f"{key} cannot change on resume ({run_dir} was made with {json.dumps(lookup(saved, key))})"
        raise ValueError(f"{reason}; `humanoid-fpo train --help` lists what may")


def config_groups() -> dict[str, list[str]]:
    """The option groups of configs/ (`algo`: [fpo, fpo_pp, ppo], ...)."""
    folders = sorted(d for d in CONFIG_DIR.iterdir() if d.is_dir())
    return {d.name: sorted(f.stem for f in d.glob("*.yaml")) for d in folders}


def check_overrides(overrides: list[str]) -> None:
    """Raise ValueError naming the first override that is not KEY=VALUE, names no config key, or
    picks an option its group does not have, or that Hydra's grammar cannot parse (value types are
    checked by `from_dict`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    groups, keys = config_groups(), dotted_keys(TrainConfig)
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if not sep:
            raise ValueError(f"{override!r}: expected KEY=VALUE (humanoid-fpo train --help lists them)")
        try:
            OverridesParser.create().parse_overrides([override])
        except OverrideParseException as e:
            raise ValueError(f"{override!r}: cannot parse ({str(e).splitlines()[0]}); lists are key=[1,2], "
                             "strings with spaces key='a b'") from None
        if key in groups:
            if value not in groups[key]:
                raise ValueError(f"{key}={value}: unknown option; choose from {', '.join(groups[key])}")
        elif key != "resume" and key not in keys and not any(k.startswith(key + ".") for k in keys):
            raise ValueError(f"{key}: unknown key{suggest(key, [*keys, *groups])}")


COMMON_KEYS = {
    "iterations": "rollout + update cycles",
    "env.num_envs": "humanoids simulated in parallel",
    "env.backend": "physics: mjx (GPU) | native (MuJoCo C, CPU threads) | auto",
    "steps_per_env": "control steps per env in one rollout",
    "seed": "env and learner seed",
    "run_dir": "run folder (null: runs/<date>_<time>)",
    "motions.path": "motion library .npz, clip files or a folder",
    "motions.cache": "folder of retargeted libraries, reused for the same files (null: none)",
    "motions.include": "clip-file name patterns kept from a folder, e.g. '[walk_*,step_forward_*]'",
    "algo.lr": "learning rate (the start, with algo.adaptive_lr)",
    "algo.clip": "trust-region ε of the ratio",
    "algo.noise_std": "flow: σ of x0 and ε, the exploration",
    "env.termination_distance": "m, training's (final) termination distance",
    "termination_curriculum.start": "m, lenient first termination distance (null: no curriculum)",
    "eval_every": "iterations between evaluations",
    "eval_clips": "training clips an evaluation plays during training (null: 5 % of the env steps; 0: all)",
    "device": "cpu | cuda | auto",
    "wandb.mode": "disabled | offline | online",
    "progress": "progress bar (a line every log_every iterations when not a terminal)",
}
"""The keys `humanoid-fpo train --help` shows; any field of TrainConfig works (nested: env.*, algo.*)."""


def help_text() -> str:
    """The config groups with their options (* the default) and COMMON_KEYS with their defaults."""
    cfg = to_dict(compose([])[0])
    defaults = {k: v for d in yaml.safe_load((CONFIG_DIR / "train.yaml").read_text())["defaults"]
                if isinstance(d, dict) for k, v in d.items()}
    lines = ["config groups (GROUP=OPTION, * the default):"]
    for group, options in config_groups().items():
        lines.append(f"  {group:<14}" + " | ".join(o + "*" * (o == defaults.get(group)) for o in options))
    lines += ["", "frequent keys (KEY=VALUE, the default's value; every field of TrainConfig, EnvConfig",
              "and AlgoConfig can be set, nested as env.*, algo.*, e.g. algo.actor.hidden=[512,256]):"]
    for key, what in COMMON_KEYS.items():
        value = lookup(cfg, key)
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"  {key}={text:<{43 - len(key)}} {what}")
    lines += ["  resume=RUN_DIR                               continue a run from its last checkpoint;",
              "    with it only these may change (the rest made the run's networks, envs and library):"]
    keys = [k + ".*" * (k == "wandb") for k in RESUME_KEYS]
    lines += ["      " + ", ".join(keys[i:i + 6]) + ("," if i + 6 < len(keys) else "") for i in range(0, len(keys), 6)]
    lines += ["", textwrap.fill(f"Paths: {PATHS_RULE}.", 100)]
    return "\n".join(lines)
