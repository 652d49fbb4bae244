"""The trainer behind `humanoid-fpo train`: a run folder, the rollout/update loop, periodic
evaluation, checkpoints and resume.

A run folder holds:
    config.yaml       the resolved config (what `resume=RUN_DIR` reads back)
    motions.npz       the motion library trained on (retargeted once from a folder of clips)
    feasible.npz      with teacher.feasible_reference: the teacher's trajectories of those clips, which RL tracks
    checkpoint.pt     learner, EMA, normalisers, optimiser, env curriculum, RNGs; written atomically
    metrics.jsonl     one row per iteration (and eval/* entries at evaluations)
    curves.png        learning curves, refreshed during training
    eval.json         the latest success-rate evaluation, per clip

Under torchrun every rank runs a Trainer on its own env and device (learn/distributed.py keeps their
weights identical); rank 0 alone writes the run folder, logs, plots and evaluates.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import numpy as np
import torch
import yaml

from humanoid_fpo.atomic import atomic_path
from humanoid_fpo.config import dotted_keys, from_dict, suggest, to_dict
from humanoid_fpo.evaluate import FIGURES, evaluate_clips
from humanoid_fpo.humanoid import ASSET_PATH, load_model
from humanoid_fpo.learn import distributed
from humanoid_fpo.learn.bridge import TrackingVecEnv
from humanoid_fpo.learn.config import AlgoConfig, check_algo
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.prior import PriorConfig, check_prior, warm_start
from humanoid_fpo.learn.rollout import EpisodeTracker, collect
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.motion.library import MotionLibrary, build_library, load_library, save_library
from humanoid_fpo.motion.retarget import find_motion_files, retarget_files
from humanoid_fpo.motion.source import MotionFileError
from humanoid_fpo.runlog import MetricsLog, Progress, plot_curves
from humanoid_fpo.sim.curriculum import TerminationCurriculum, next_termination_distance
from humanoid_fpo.sim.env import EnvConfig, eval_config, make_env, mean_pose
from humanoid_fpo.sim.observations import as_ranges, obs_layout
from humanoid_fpo.teacher.demos import Demonstrations, feasible_library, load_demonstrations
from humanoid_fpo.teacher.mppi import TeacherConfig, check_teacher
from humanoid_fpo.teacher.teach import make_teacher, summary, teach

WANDB_MODES = ("disabled", "offline", "online")
DEFAULT_POSES = ("library_mean", "mid_range")
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class MotionsConfig:
    path: str = "motions"
    """A packed motion library (.npz) or clip files/folders (npz SMPL, bvh), retargeted at start."""


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
    before its first iteration (iteration 0) and after its last (0: only those two)."""
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
    progress: bool = True
    """A progress bar on a terminal; one line every `log_every` iterations when stdout is not one."""
    log_every: int = 10


def check_config(cfg: TrainConfig) -> None:
    for key, value, least in (("env.num_envs", cfg.env.num_envs, 1), ("steps_per_env", cfg.steps_per_env, 1),
                              ("iterations", cfg.iterations, 0), ("log_every", cfg.log_every, 1)):
        if value < least:
            raise ValueError(f"{key}: expected an integer >= {least}, got {value}")
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


def load_motions(path: str | Path, model_path: str | None = None) -> MotionLibrary:
    """A packed library file (checked against the humanoid: a library made for another one is an
    error naming the file), or clip files/folders retargeted onto it; the humanoid is `model_path`
    (env.model_path), else the built-in one."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MotionFileError(path, "no such motion library, clip or folder")
    model = load_model(model_path or ASSET_PATH)
    if path.is_file() and path.suffix == ".npz":
        with np.load(path) as data:
            if "format_version" in data.files:
                return load_library(path, model)
    files = find_motion_files([path])
    clips, rows = retarget_files(files, model, progress=False)
    for row in rows:
        if row[-1] != "ok":
            print(f"motions: {row[0]} {row[-1]}")
    if not clips:
        raise MotionFileError(path, "no clip could be retargeted (need .npz SMPL or .bvh files)")
    return build_library(clips, model)


def with_default_pose(cfg: TrainConfig, library: MotionLibrary) -> TrainConfig:
    """cfg with env.default_pose filled in as `default_pose` says (library_mean: the library's mean
    pose) where it is unset: the action transform a run, and the teacher that teaches it, use."""
    if cfg.default_pose == "library_mean" and cfg.env.default_pose is None:
        return replace(cfg, env=replace(cfg.env, default_pose=mean_pose(library)))
    return cfg


def read_config(path: Path) -> TrainConfig:
    """A run's config.yaml; a damaged or empty one is a one-line error naming it."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: damaged YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a run config (expected a mapping of settings, got {type(data).__name__})")
    try:
        return from_dict(TrainConfig, data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def write_config(cfg: TrainConfig, run_dir: Path) -> None:
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


class Trainer:
    """Owns the env, learner and run folder; `run()` trains to cfg.iterations."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False):
        check_config(cfg)
        self.run_dir = run_dir
        self.ranks = distributed.from_environment()
        self.device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                                   "cpu" if cfg.device == "auto" else cfg.device)
        if self.ranks.local_world > 1 and cfg.env.threads == 0:  # the node's cores shared among its ranks
            cfg = replace(cfg, env=replace(cfg.env, threads=max(1, os.cpu_count() // self.ranks.local_world)))
            torch.set_num_threads(cfg.env.threads)
        torch.manual_seed(cfg.seed)
        library = distributed.broadcast_object(
            None if not self.ranks.main else load_library(run_dir / "motions.npz") if resume else
            load_motions(cfg.motions.path, cfg.env.model_path))
        cfg = with_default_pose(cfg, library)
        self.cfg, self.library = cfg, library
        taught = cfg.prior.source == "teacher" or cfg.teacher.feasible_reference
        self.demos = distributed.broadcast_object(self._teach() if self.ranks.main else None) \
            if taught and not resume else None
        # what RL tracks: the clips, or the teacher's trajectories of them (feasible.npz on resume)
        tracked = library if not cfg.teacher.feasible_reference else distributed.broadcast_object(
            None if not self.ranks.main else load_library(run_dir / "feasible.npz") if resume else
            feasible_library(self.demos, library, load_model(cfg.env.model_path or ASSET_PATH)))
        # bad settings raise here
        self.env = TrackingVecEnv(make_env(cfg.env, tracked), self._env_key())
        self.eval_env = make_env(eval_config(cfg.env, library.num_clips), library) if self.ranks.main \
            else None
        held_out = load_motions(cfg.eval_motions, cfg.env.model_path) if cfg.eval_motions and self.ranks.main \
            else None
        self.held_out_env = None if held_out is None else make_env(eval_config(cfg.env, held_out.num_clips), held_out)
        self.learner = Learner(cfg.algo, self.env.obs_size, self.env.critic_obs_size, self.env.action_size,
                               self.device)
        distributed.broadcast_tensors(self.learner.tensors())
        if self.ranks.rank:
            self._seed_rank()
        if not resume:
            if self.ranks.main:
                save_library(library, run_dir / "motions.npz")
                if tracked is not library:
                    save_library(tracked, run_dir / "feasible.npz")
                write_config(cfg, run_dir)
            if cfg.termination_curriculum.start is not None:
                self.env.termination_distance = cfg.termination_curriculum.start
        self.storage = RolloutStorage(cfg.steps_per_env)
        self.tracker = EpisodeTracker(cfg.env.num_envs, self.device)
        self.metrics = MetricsLog(run_dir / "metrics.jsonl")
        self.iteration, self.env_steps, self.last_eval = 0, 0, {}
        self.resumed = resume
        if resume:
            self._load_checkpoint()
        self.wandb = self._init_wandb() if self.ranks.main else None

    def _seed_rank(self, iteration: int = 0) -> None:
        """Ranks other than 0 explore with their own torch stream (rank 0 keeps the single-process one)."""
        torch.manual_seed(self.cfg.seed + 7919 * self.ranks.rank + iteration)

    def _env_key(self, resumed_at: int | None = None) -> jax.Array:
        """The env's key at the start or when resumed at an iteration, its own on every rank (rank 0:
        the single-process one)."""
        key = jax.random.key(self.cfg.seed)
        key = key if resumed_at is None else jax.random.fold_in(key, resumed_at)
        return jax.random.fold_in(key, 100_003 * self.ranks.rank) if self.ranks.rank else key

    # --- checkpoints ---------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        """Rank 0 writes every rank's env progress and RNG state (a collective: all ranks call it)."""
        ranks = distributed.gather_objects({"env_progress": self.env.progress(),
                                            "torch_rng": torch.get_rng_state()})
        if not self.ranks.main:
            return
        state = {"version": CHECKPOINT_VERSION, "iteration": self.iteration, "env_steps": self.env_steps,
                 "config": to_dict(self.cfg), "learner": self.learner.state_dict(), **ranks[0],
                 "obs_layout": as_ranges(self.env.env.layout),
                 "clip_names": list(self.library.clip_names)}
        if len(ranks) > 1:
            state["ranks"] = ranks
        with atomic_path(self.run_dir / "checkpoint.pt") as tmp:
            torch.save(state, tmp)

    def _load_checkpoint(self) -> None:
        """Rank 0 reads the checkpoint and hands it to every rank; each takes its own env progress and
        RNG state where the checkpoint has its rank (else rank 0's progress and a fresh RNG)."""
        state = distributed.broadcast_object(
            read_checkpoint(self.run_dir / "checkpoint.pt", self.cfg, "cpu") if self.ranks.main else None)
        self.learner.load_state_dict(state["learner"])
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]
        saved = state.get("ranks", [state])
        mine = saved[self.ranks.rank] if self.ranks.rank < len(saved) else None
        if mine is not None:
            torch.set_rng_state(mine["torch_rng"])
        else:
            self._seed_rank(self.iteration)
        self.env = TrackingVecEnv(self.env.env, self._env_key(self.iteration))
        self.env.restore((mine or saved[0])["env_progress"])
        if self.ranks.main:
            self.metrics.truncate(self.iteration)
        evals = [r for r in self.metrics.rows() if "eval/success_rate" in r] if self.ranks.main else []
        self.last_eval = {k: v for k, v in evals[-1].items() if k.startswith("eval/")} if evals else {}

    # --- logging -------------------------------------------------------------------------------

    def _init_wandb(self):
        if self.cfg.wandb.mode == "disabled":
            return None
        import wandb

        id_file = self.run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
        id_file.write_text(run_id)
        w = self.cfg.wandb
        return wandb.init(mode=w.mode, project=w.project, entity=w.entity, dir=str(self.run_dir), id=run_id,
                          resume="allow", name=self.run_dir.name, config=to_dict(self.cfg))

    def _log(self, row: dict) -> None:
        if not self.ranks.main:
            return
        self.metrics.append(row)
        if self.wandb is not None:
            self.wandb.log(row, step=row["env_steps"])

    # --- the loop ------------------------------------------------------------------------------

    def evaluate(self) -> dict:
        """Success rate of the EMA policy on every training clip (protocol of DESIGN.md); rank 0's
        job ({} on the others)."""
        if not self.ranks.main:
            return {}
        steps = self.cfg.eval_flow_steps
        act = lambda obs: self.learner.eval_action(obs.to(self.device), steps)
        start = time.perf_counter()
        result = evaluate_clips(self.eval_env, act, jax.random.key(self.cfg.seed))
        held = {} if self.held_out_env is None else \
            {"held_out": evaluate_clips(self.held_out_env, act, jax.random.key(self.cfg.seed))}
        with atomic_path(self.run_dir / "eval.json") as tmp:
            tmp.write_text(json.dumps(result | held | {"iteration": self.iteration}, indent=1))
        return {**{f"eval/{k}": result[k] for k in FIGURES}, "eval/seconds": time.perf_counter() - start,
                **{f"eval_held_out/{k}": held["held_out"][k] for k in FIGURES if held}}

    def fit_prior(self) -> dict:
        """Fit the actor to the reference or the teacher (learn/prior.py); its loss and cost, for the log."""
        start = time.perf_counter()
        demos = self.demos if self.cfg.prior.source == "teacher" else None
        taught = {} if demos is None else {"teacher/" + k: v for k, v in summary(demos).items()}
        teacher = make_teacher(self.cfg.env, self.cfg.teacher) if demos is not None and self.cfg.prior.dagger_rounds \
            else None
        losses, samples = warm_start(self.learner, self.env.env, self.cfg.prior, self.cfg.seed, demos, teacher)
        distributed.broadcast_tensors(self.learner.tensors())  # the ranks' fits may differ on GPUs
        last = losses[-50:]
        return {**taught, "prior/samples": samples, "prior/loss_first": losses[0],
                "prior/loss": sum(last) / len(last), "prior/seconds": time.perf_counter() - start}

    def _teach(self) -> Demonstrations:
        """The teacher's demonstrations of the training clips, in this run's scene and action transform."""
        if self.cfg.teacher.demos:
            return load_demonstrations(self.cfg.teacher.demos)
        demos, path = teach(self.library, self.cfg.env, self.cfg.teacher, log=print)
        print(f"teacher: {path}")
        return demos

    def train_iteration(self) -> dict:
        """One rollout, one update and a step of the termination curriculum; returns the
        iteration's metrics (termination_distance: the one its rollout ran under)."""
        info: dict[str, torch.Tensor] = {}
        distance = self.env.termination_distance
        t0 = time.perf_counter()
        last_values = collect(self.learner, self.env, self.storage, self.tracker, info)
        t1 = time.perf_counter()
        held = self.cfg.prior.steps > 0 and self.iteration < self.cfg.prior.critic_iterations
        update = self.learner.update(self.storage, last_values, actor=not held)
        t2 = time.perf_counter()
        n = self.cfg.steps_per_env * self.cfg.env.num_envs * self.ranks.world
        self.iteration += 1
        self.env_steps += n
        self.tracker.totals = distributed.total(self.tracker.totals)  # every rank's episodes
        episodes = self.tracker.pop()
        self.env.termination_distance = next_termination_distance(
            self.cfg.termination_curriculum, distance, self.cfg.env.termination_distance,
            episodes["episode_length"])
        row = distributed.mean_floats({**{k: v.item() / self.cfg.steps_per_env for k, v in info.items()},
                                       **update, "collect_s": t1 - t0, "update_s": t2 - t1})
        if self.ranks.world > 1:
            self.env.clip_fail_rate = distributed.mean(self.env.clip_fail_rate)
            row["weights_difference"] = distributed.weights_difference(self.learner.tensors())
        return {"iteration": self.iteration, "env_steps": self.env_steps, **episodes, **row,
                "termination_distance": distance, "actor_held": float(held), "steps_per_s": n / (t2 - t0)}

    def run(self) -> dict:
        cfg = self.cfg
        row: dict = {}
        if self.iteration == 0 and not self.resumed:  # where training starts: the curves' first point
            prior = self.fit_prior() if cfg.prior.steps else {}
            self.last_eval = self.evaluate()
            self._log({"iteration": 0, "env_steps": 0, **prior, **self.last_eval})
            if cfg.iterations == 0:  # the prior (or the untrained policy) alone; resume= trains on from it
                self.save_checkpoint()
        shown = cfg.progress and self.ranks.main
        progress = Progress(cfg.iterations, self.iteration, cfg.log_every) if shown else None
        while self.iteration < cfg.iterations:
            row = self.train_iteration()
            final = self.iteration == cfg.iterations
            if final or (cfg.eval_every and self.iteration % cfg.eval_every == 0):
                self.last_eval = self.evaluate()
                row |= self.last_eval
            self._log(row)
            if final or self.iteration % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if self.ranks.main and (final or self.iteration % cfg.plot_every == 0):
                plot_curves(self.metrics.rows(), self.run_dir / "curves.png", str(self.run_dir))
            if progress is not None:
                progress.update(row, self.last_eval.get("eval/success_rate", float("nan")))
        if progress is not None:
            progress.close()
        if self.wandb is not None:
            self.wandb.finish()
        return row


POLICY_KEYS = ("env.obs", "env.control_dt", "env.default_pose", "env.model_path", "algo.policy", "algo.actor",
               "algo.critic", "algo.tau_embed")
"""Config entries that define the networks' inputs and outputs: a checkpoint loads only under a
config that agrees on all of them."""


def _lookup(cfg: dict, key: str):
    for part in key.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


def read_checkpoint(path: Path, cfg: TrainConfig | None = None, device: str | torch.device = "cpu") -> dict:
    """The checkpoint at `path`; with `cfg`, raise unless it was written under a config that agrees
    on POLICY_KEYS (a checkpoint copied from another run, or a changed network, would load wrong)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ValueError(f"{path}: checkpoint version {version}, this version reads {CHECKPOINT_VERSION}")
    if cfg is not None:
        check_same_policy(path, state["config"], cfg)
    return state


def check_same_policy(path: Path, saved: dict, cfg: TrainConfig) -> None:
    """Raise unless the config `saved` with the checkpoint at `path` agrees with `cfg` on POLICY_KEYS."""
    ours = to_dict(cfg)
    differ = [k for k in POLICY_KEYS if _lookup(ours, k) != _lookup(saved, k)]
    if differ:
        raise ValueError(f"{path}: checkpoint from another config: {', '.join(differ)} differ "
                         f"(checkpoint {_lookup(saved, differ[0])!r}, config {_lookup(ours, differ[0])!r})")


@dataclass
class TrainedPolicy:
    """What `eval`, `export` and `render` need of a run: its config, library and learner (EMA weights)."""

    cfg: TrainConfig
    library: MotionLibrary
    learner: Learner
    checkpoint: Path
    iteration: int


def load_trained(path: str | Path, device: str = "cpu") -> TrainedPolicy:
    """A run folder or its checkpoint.pt: the checkpoint's own config, checked against the folder's
    config.yaml, the folder's motions.npz and the learner with the checkpoint's weights."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run folder or checkpoint")
    checkpoint = path / "checkpoint.pt" if path.is_dir() else path
    run_dir = checkpoint.parent
    state = read_checkpoint(checkpoint, device=device)
    cfg = from_dict(TrainConfig, state["config"])
    if (run_dir / "config.yaml").exists():
        check_same_policy(checkpoint, state["config"], read_config(run_dir / "config.yaml"))
    if not (run_dir / "motions.npz").exists():
        raise FileNotFoundError(f"{run_dir / 'motions.npz'}: missing, the run's motion library (evaluate, "
                                f"render or play on clips of your own with --motions PATH where it is offered)")
    library = load_library(run_dir / "motions.npz", load_model(cfg.env.model_path or ASSET_PATH))
    layout = as_ranges(obs_layout(cfg.env.obs))
    if state["obs_layout"] != layout:
        raise ValueError(f"{checkpoint}: observation layout {state['obs_layout']} differs from this "
                         f"version's {layout}")
    obs_size = layout["height_scan"][1]
    learner = Learner(cfg.algo, obs_size, obs_size, library.qpos.shape[1] - 7, device)
    try:
        learner.load_state_dict(state["learner"])
    except (RuntimeError, KeyError) as e:
        raise ValueError(f"{checkpoint}: weights do not fit the config's networks ({e})") from e
    return TrainedPolicy(cfg, library, learner, checkpoint, state["iteration"])


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def compose(overrides: list[str]) -> tuple[TrainConfig, Path | None]:
    """Hydra composition of configs/train.yaml with command-line overrides (`algo=ppo`,
    `env.num_envs=128`, ...). `resume=RUN_DIR` instead reads RUN_DIR/config.yaml and applies the
    other overrides to it (e.g. `iterations=2000` to train longer). Returns (config, resume dir)."""
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
        cfg = OmegaConf.merge(OmegaConf.create(to_dict(read_config(run_dir / "config.yaml"))),
                              OmegaConf.from_dotlist(overrides))
        cfg.run_dir = str(run_dir)
    else:
        run_dir = None
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = hydra_compose(config_name="train", overrides=overrides)
    return from_dict(TrainConfig, OmegaConf.to_container(cfg, resolve=True)), run_dir


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
    "algo.lr": "learning rate (the start, with algo.adaptive_lr)",
    "algo.clip": "trust-region ε of the ratio",
    "algo.noise_std": "flow: σ of x0 and ε, the exploration",
    "env.termination_distance": "m, training's (final) termination distance",
    "termination_curriculum.start": "m, lenient first termination distance (null: no curriculum)",
    "eval_every": "iterations between evaluations",
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
        value = _lookup(cfg, key)
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"  {key}={text:<{43 - len(key)}} {what}")
    lines += ["  resume=RUN_DIR                               continue a run from its last checkpoint"]
    return "\n".join(lines)


def new_run_dir(cfg: TrainConfig) -> Path:
    """cfg.run_dir (which must not hold a run yet), or runs/<date>_<time>."""
    run_dir = Path(cfg.run_dir or time.strftime("runs/%Y%m%d_%H%M%S")).expanduser()
    if (run_dir / "config.yaml").exists():
        raise FileExistsError(f"{run_dir} already holds a run; continue it with resume={run_dir} "
                              f"or choose another run_dir")
    return run_dir


def use_jax_cache(path: str | None) -> None:
    """Keep compiled env functions on disk (minutes of compiling per env config on a CPU)."""
    if path:
        jax.config.update("jax_compilation_cache_dir", str(Path(path).expanduser()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def main(overrides: list[str]) -> dict:
    """`humanoid-fpo train [overrides]`, in one process or as one torchrun rank: the last metrics row."""
    ranks = distributed.init()
    try:
        row = _train(ranks, overrides)
    except BaseException:
        distributed.close(barrier=False)  # the other ranks may wait in a collective: torchrun stops them
        raise
    distributed.close()
    return row


def _train(ranks: distributed.Ranks, overrides: list[str]) -> dict:
    """Compose, set up the run folder, train."""
    if ranks.main:  # under torchrun rank 0 composes and names the run folder; the others take them
        cfg, resume_dir = compose(overrides)
        run_dir = resume_dir or new_run_dir(cfg)
    shared = (cfg, run_dir, resume_dir) if ranks.main else None
    cfg, run_dir, resume_dir = distributed.broadcast_object(shared)
    use_jax_cache(cfg.jax_cache)
    trainer = Trainer(replace(cfg, run_dir=str(run_dir)), run_dir, resume=resume_dir is not None)
    if ranks.main:
        job = f"{ranks.world} ranks × " if ranks.world > 1 else ""
        print(f"run folder: {run_dir} ({trainer.device}, {job}{cfg.env.num_envs} envs, "
              f"{trainer.library.num_clips} clips, from iteration {trainer.iteration})")
    row = trainer.run()
    if ranks.main:
        print(f"done: {run_dir} — episode length {row.get('episode_length', float('nan')):.1f}, "
              f"success {trainer.last_eval.get('eval/success_rate', float('nan')):.2f}")
    return row
