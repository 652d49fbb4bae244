"""The trainer behind `humanoid-fpo train`: a run folder, the rollout/update loop, periodic
evaluation, checkpoints and resume (the config is run/config.py's, the checkpoint format run/checkpoint.py's,
the run's data run/prepare.py's). `build_trainer` goes config → data → envs → learner → Trainer.

A run folder holds:
    config.yaml       the resolved config (what `resume=RUN_DIR` reads back)
    motions.npz       the motion library trained on (retargeted once from a folder of clips)
    feasible.npz      with teacher.feasible_reference: the teacher's trajectories of those clips, which RL tracks
    checkpoint.pt     learner, EMA, normalisers, optimiser, env curriculum, RNGs; written atomically after
                      the motion prior (iteration 0) and every checkpoint_every iterations
    best.pt           the same, of the in-run evaluation with the highest success rate (ties: frames)
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import torch

from humanoid_fpo.util.atomic import atomic_path
from humanoid_fpo.body.mirror import HINGE_SIGN, HINGE_SWAP
from humanoid_fpo.util.interrupt import is_interrupt
from humanoid_fpo.run.checkpoint import CHECKPOINT_VERSION, read_checkpoint
from humanoid_fpo.util.typed_config import to_dict
from humanoid_fpo.evaluate import FIGURES, eval_clip_count, evaluate_clips, stratified_clips
from humanoid_fpo.learn import distributed
from humanoid_fpo.learn.bridge import TrackingVecEnv
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.symmetry import Mirror
from humanoid_fpo.learn.prior import warm_start
from humanoid_fpo.learn.rollout import EpisodeTracker, collect
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.run.prepare import prepare, save
from humanoid_fpo.run.config import TrainConfig, check_config, compose, write_config
from humanoid_fpo.run.curves import plot_curves, run_curves
from humanoid_fpo.run.metrics import MetricsLog, Progress
from humanoid_fpo.sim.curriculum import next_termination_distance
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.env import TrackingEnv, eval_config, make_env, use_jax_cache
from humanoid_fpo.sim.observations import as_ranges, mirror_map


class Rollout(NamedTuple):
    storage: RolloutStorage
    last_values: torch.Tensor  # (N,) values of the states after the last step
    info: dict[str, torch.Tensor]  # summed per-step batch means of the env's info entries
    seconds: float


class Trainer:
    """Runs the rollout/update loop of a ready env and learner in a run folder, evaluates, writes
    checkpoints and resumes; `run()` trains to cfg.iterations. `build_trainer` makes one from a config.

    env: the training env; eval_env: the evaluation env over the clips `eval_clips` (rank 0 only, None
    on the others); held_out_env: eval_motions' clips, or None."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, env: TrackingVecEnv, learner: Learner,
                 eval_env: TrackingEnv | None, eval_clips: np.ndarray, held_out_env: TrackingEnv | None = None,
                 resume: bool = False):
        self.cfg, self.run_dir, self.env, self.learner = cfg, run_dir, env, learner
        self.eval_env, self.eval_clips, self.held_out_env = eval_env, eval_clips, held_out_env
        self.ranks = distributed.from_environment()
        self.device = learner.device
        if self.ranks.rank:
            self._seed_rank()
        if not resume and cfg.termination_curriculum.start is not None:
            self.env.termination_distance = cfg.termination_curriculum.start
        self.storage = RolloutStorage(cfg.steps_per_env)
        # with overlap: the next rollout, collected on a thread of its own into the spare storage
        self.spare = RolloutStorage(cfg.steps_per_env) if cfg.overlap else None
        self.collector = ThreadPoolExecutor(1, thread_name_prefix="rollout") if cfg.overlap else None
        self.pending: Future[Rollout] | None = None
        self.tracker = EpisodeTracker(cfg.env.num_envs, self.device)
        self.metrics = MetricsLog(run_dir / "metrics.jsonl")
        self.iteration, self.env_steps, self.last_eval, self.last_eval_end = 0, 0, {}, None
        self.prior: dict = {}  # the motion prior's row entries, kept in the checkpoint until row 0 is logged
        self.best: tuple[float, float] | None = None  # (success rate, frames) of best.pt
        self.resumed = resume
        if resume:
            self._load_checkpoint()
        self.wandb = self._init_wandb() if self.ranks.main else None

    def _seed_rank(self, iteration: int = 0) -> None:
        """Ranks other than 0 explore with their own torch stream (rank 0 keeps the single-process one)."""
        torch.manual_seed(self.cfg.seed + 7919 * self.ranks.rank + iteration)

    # --- checkpoints ---------------------------------------------------------------------------

    def _progress(self) -> dict:
        """This rank's env progress and RNG state (reading them draws nothing)."""
        return {"env_progress": self.env.progress(), "torch_rng": torch.get_rng_state()}

    def _state(self, ranks: list[dict]) -> dict:
        state = {"version": CHECKPOINT_VERSION, "iteration": self.iteration, "env_steps": self.env_steps,
                 "config": to_dict(self.cfg), "learner": self.learner.state_dict(), **ranks[0],
                 "obs_layout": as_ranges(self.env.env.layout),
                 "clip_names": list(self.eval_env.library.clip_names), "prior": self.prior}
        if len(ranks) > 1:
            state["ranks"] = ranks
        return state

    def save_checkpoint(self) -> None:
        """Rank 0 writes every rank's env progress and RNG state (a collective: all ranks call it)."""
        ranks = distributed.gather_objects(self._progress())
        if self.ranks.main:
            with atomic_path(self.run_dir / "checkpoint.pt") as tmp:
                torch.save(self._state(ranks), tmp)

    def keep_if_best(self, evaluation: dict) -> None:
        """Rank 0 writes best.pt when `evaluation` (an in-run one's eval/* entries) beats the best so
        far on success rate, ties broken by frames; the first evaluation counts."""
        score = (evaluation["eval/success_rate"], evaluation["eval/frames"])
        if self.best is not None and score <= self.best:
            return
        self.best = score
        state = self._state([self._progress()]) | {"eval": dict(zip(("success_rate", "frames"), score))}
        with atomic_path(self.run_dir / "best.pt") as tmp:
            torch.save(state, tmp)

    def _load_checkpoint(self) -> None:
        """Rank 0 reads the checkpoint and hands it to every rank; each takes its own env progress and
        RNG state where the checkpoint has its rank (else rank 0's progress and a fresh RNG)."""
        state = distributed.broadcast_object(
            read_checkpoint(self.run_dir / "checkpoint.pt", self.cfg, "cpu") if self.ranks.main else None)
        self.learner.load_state_dict(state["learner"])
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]
        self.prior = state.get("prior", {})
        saved = state.get("ranks", [state])
        mine = saved[self.ranks.rank] if self.ranks.rank < len(saved) else None
        if mine is not None:
            torch.set_rng_state(mine["torch_rng"])
        else:
            self._seed_rank(self.iteration)
        self.env = TrackingVecEnv(self.env.env, env_key(self.cfg.seed, self.ranks.rank, self.iteration))
        self.env.restore((mine or saved[0])["env_progress"])
        if self.ranks.main:
            self.metrics.truncate(self.iteration)
        evals = [r for r in self.metrics.rows() if "eval/success_rate" in r] if self.ranks.main else []
        self.last_eval = {k: v for k, v in evals[-1].items() if k.startswith("eval/")} if evals else {}
        if self.ranks.main and (self.run_dir / "best.pt").is_file():
            best = torch.load(self.run_dir / "best.pt", map_location="cpu", weights_only=False)["eval"]
            self.best = (best["success_rate"], best["frames"])

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

    def evaluate(self, every_clip: bool = False) -> dict:
        """Success rate of the EMA policy (protocol of DESIGN.md) on the training clips of
        `eval_clips`, or on all of them; rank 0's job ({} on the others). Logs its seconds and, after
        the first, its share of the wall time since the previous evaluation."""
        if not self.ranks.main:
            return {}
        steps = self.cfg.eval_flow_steps
        act = lambda obs: self.learner.eval_action(obs.to(self.device), steps)
        start = time.perf_counter()
        clips = None if every_clip else self.eval_clips
        result = evaluate_clips(self.eval_env, act, jax.random.key(self.cfg.seed), clips=clips)
        held = {} if self.held_out_env is None else \
            {"held_out": evaluate_clips(self.held_out_env, act, jax.random.key(self.cfg.seed))}
        with atomic_path(self.run_dir / "eval.json") as tmp:
            tmp.write_text(json.dumps(result | held | {"iteration": self.iteration}, indent=1))
        end = time.perf_counter()
        share = {} if self.last_eval_end is None else {"eval/share": (end - start) / (end - self.last_eval_end)}
        self.last_eval_end = end
        return {**{f"eval/{k}": result[k] for k in FIGURES}, "eval/clips": len(result["clips"]),
                "eval/seconds": end - start, **share,
                **{f"eval_held_out/{k}": held["held_out"][k] for k in FIGURES if held}}

    def fit_prior(self) -> dict:
        """Fit the actor to the reference (learn/prior.py); its loss and cost, for the log."""
        start = time.perf_counter()
        losses, samples = warm_start(self.learner, self.env.env, self.cfg.prior, self.cfg.seed)
        distributed.broadcast_tensors(self.learner.tensors())  # the ranks' fits may differ on GPUs
        last = losses[-50:]
        return {"prior/samples": samples, "prior/loss_first": losses[0],
                "prior/loss": sum(last) / len(last), "prior/seconds": time.perf_counter() - start}

    def _collect(self, learner: Learner, storage: RolloutStorage) -> Rollout:
        info: dict[str, torch.Tensor] = {}
        start = time.perf_counter()
        last_values = collect(learner, self.env, storage, self.tracker, info)
        return Rollout(storage, last_values, info, time.perf_counter() - start)

    def train_iteration(self) -> dict:
        """One rollout, one update and a step of the termination curriculum; returns the
        iteration's metrics (termination_distance: the one its rollout ran under).

        With `overlap` the next iteration's rollout is collected on another thread while this one's
        update runs, acting with the weights from before the update (one policy version behind; the
        ratios stay to the acting policy, whose quantities the rollout stores). Its minibatches are
        then drawn from a generator of the seed and iteration, as the acting thread draws from torch's."""
        distance = self.env.termination_distance
        start = time.perf_counter()
        rollout = self.pending.result() if self.pending is not None else \
            self._collect(self.learner, self.storage)
        self.pending = None
        self.tracker.totals = distributed.total(self.tracker.totals)  # every rank's episodes
        episodes = self.tracker.pop()
        self.env.termination_distance = next_termination_distance(
            self.cfg.termination_curriculum, distance, self.cfg.env.termination_distance,
            episodes["episode_length"])
        if self.collector is not None and self.iteration + 1 < self.cfg.iterations:
            self.storage, self.spare = self.spare, self.storage
            self.pending = self.collector.submit(self._collect, self.learner.behind(), self.storage)
        shuffle = minibatch_draws(self.cfg.seed, self.iteration) if self.collector is not None else None
        update_start = time.perf_counter()
        held = self.iteration < self.cfg.prior.critic_iterations
        update = self.learner.update(rollout.storage, rollout.last_values, actor=not held, shuffle=shuffle)
        update_s = time.perf_counter() - update_start
        if self.pending is not None:  # the env and the normalisers are the rollout's until it is done
            self.pending.result()
        seconds = time.perf_counter() - start
        n = self.cfg.steps_per_env * self.cfg.env.num_envs * self.ranks.world
        self.iteration += 1
        self.env_steps += n
        per_step = {k: v.item() / self.cfg.steps_per_env for k, v in rollout.info.items()}
        row = distributed.mean_floats({**per_step, **update, "collect_s": rollout.seconds,
                                       "update_s": update_s, "iteration_s": seconds})
        if self.ranks.world > 1:
            self.env.clip_fail_rate = distributed.mean(self.env.clip_fail_rate)
            row["weights_difference"] = distributed.weights_difference(self.learner.tensors())
        return {"iteration": self.iteration, "env_steps": self.env_steps, **episodes, **row,
                "termination_distance": distance, "actor_held": float(held), "steps_per_s": n / seconds,
                **memory_peaks(self.device)}

    def start(self) -> None:
        """Iteration 0, where training starts: the motion prior's fit, kept in a checkpoint at once (so
        that resume= continues from the first minute), then the first evaluation (with eval_at_start),
        the curves' first point. A run resumed at iteration 0 does what it had not done yet."""
        if not self.resumed:
            self.prior = self.fit_prior() if self.cfg.prior.steps else {}
            self.save_checkpoint()
        if self.ranks.main and any(r["iteration"] == 0 for r in self.metrics.rows()):
            return
        if self.cfg.eval_at_start or self.cfg.iterations == 0:  # a GPU run's eval env compiles later
            self.last_eval = self.evaluate(every_clip=self.cfg.iterations == 0)
        self._log({"iteration": 0, "env_steps": 0, **self.prior, **self.last_eval})
        if self.last_eval:
            self.keep_if_best(self.last_eval)

    def run(self) -> dict:
        cfg = self.cfg
        row: dict = {}
        if self.iteration == 0:
            self.start()
        shown = cfg.progress and self.ranks.main
        progress = Progress(cfg.iterations, self.iteration, cfg.log_every) if shown else None
        while self.iteration < cfg.iterations:
            row = self.train_iteration()
            final = self.iteration == cfg.iterations
            if final or (cfg.eval_every and self.iteration % cfg.eval_every == 0):
                self.last_eval = self.evaluate(every_clip=final)
                row |= self.last_eval
                if self.last_eval:
                    self.keep_if_best(self.last_eval)
            self._log(row)
            if final or self.iteration % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if self.ranks.main and (final or self.iteration % cfg.plot_every == 0):
                plot_curves(self.metrics.rows(), self.run_dir / "curves.png", str(self.run_dir),
                            run_curves(cfg))
            if progress is not None:
                progress.update(row, self.last_eval.get("eval/success_rate", float("nan")))
        if progress is not None:
            progress.close()
        if self.wandb is not None:
            self.wandb.finish()
        return row




def minibatch_draws(seed: int, iteration: int) -> torch.Generator:
    """The generator an overlapped iteration's update draws its minibatches from (torch's global one
    is the acting thread's)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration)


def new_run_dir(cfg: TrainConfig) -> Path:
    """cfg.run_dir (which must not hold a run yet), or runs/<date>_<time>."""
    run_dir = Path(cfg.run_dir or time.strftime("runs/%Y%m%d_%H%M%S")).expanduser()
    if (run_dir / "config.yaml").exists():
        raise FileExistsError(f"{run_dir} already holds a run; continue it with resume={run_dir} "
                              f"or choose another run_dir")
    return run_dir


def memory_peaks(device: torch.device) -> dict[str, float]:
    """GB, the peaks so far of torch's and JAX's allocators on a GPU (nothing on a CPU, where JAX
    reports no memory statistics)."""
    if device.type != "cuda":
        return {}
    stats = jax.local_devices()[0].memory_stats() or {}
    return {"memory/torch_peak_gb": torch.cuda.max_memory_allocated(device) / 2**30,
            **({"memory/jax_peak_gb": stats["peak_bytes_in_use"] / 2**30} if "peak_bytes_in_use" in stats else {})}


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
    """Compose, set up the run folder, train. Ctrl-C raises a KeyboardInterrupt whose message says
    what the run folder keeps and how to continue (`interrupted`)."""
    if ranks.main:  # under torchrun rank 0 composes and names the run folder; the others take them
        cfg, resume_dir = compose(overrides)
        run_dir = resume_dir or new_run_dir(cfg)
        if resume_dir is not None and not (run_dir / "checkpoint.pt").exists():
            print(f"{run_dir}: stopped before its first checkpoint; starting the run over in place")
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
            resume_dir = None
    shared = (cfg, run_dir, resume_dir) if ranks.main else None
    cfg, run_dir, resume_dir = distributed.broadcast_object(shared)
    trainer = None
    try:
        use_jax_cache(cfg.jax_cache)
        trainer = build_trainer(replace(cfg, run_dir=str(run_dir)), run_dir, resume=resume_dir is not None)
        if ranks.main:
            job = f"{ranks.world} ranks × " if ranks.world > 1 else ""
            print(f"run folder: {run_dir} ({trainer.device}, {job}{cfg.env.num_envs} envs, "
                  f"{trainer.eval_env.library.num_clips} clips, {trainer.learner.precision}, "
                  f"from iteration {trainer.iteration})")
        row = trainer.run()
    except BaseException as e:
        if not is_interrupt(e):
            raise
        raise KeyboardInterrupt(interrupted(run_dir, trainer and trainer.iteration)) from None
    if ranks.main:
        print(f"done: {run_dir} — episode length {row.get('episode_length', float('nan')):.1f}, "
              f"success {trainer.last_eval.get('eval/success_rate', float('nan')):.2f}")
    return row


def interrupted(run_dir: Path, iteration: int | None) -> str:
    """The one line `humanoid-fpo train` ends with on Ctrl-C: where it stopped (`iteration`: the
    iterations done, None: while setting up), what `run_dir` keeps and the command that continues."""
    where = "while setting up" if iteration is None else f"at iteration {iteration}"
    if not (run_dir / "config.yaml").exists():
        return f"interrupted {where}: {run_dir} holds no run yet; start again with the same command"
    resume = f"humanoid-fpo train resume={run_dir}"
    if not (run_dir / "checkpoint.pt").exists():
        return f"interrupted {where}: no checkpoint yet in {run_dir}; start it over with: {resume}"
    saved = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)["iteration"]
    return f"interrupted {where}: checkpoint at iteration {saved} in {run_dir}; continue with: {resume}"


def build_trainer(cfg: TrainConfig, run_dir: Path, resume: bool = False) -> Trainer:
    """A Trainer of `cfg`: the run's data (prepare.py), its training and evaluation envs, the learner
    and, for a new run, its folder's libraries and config.yaml. Bad settings raise before anything
    compiles."""
    check_config(cfg)
    ranks = distributed.from_environment()
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    if ranks.local_world > 1 and cfg.env.threads == 0:  # the node's cores shared among its ranks
        cfg = replace(cfg, env=replace(cfg.env, threads=max(1, os.cpu_count() // ranks.local_world)))
        torch.set_num_threads(cfg.env.threads)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    data = prepare(cfg, run_dir, resume)
    cfg, library = data.cfg, data.library
    shared = jax.device_put(library)  # one device copy for the training and evaluation envs
    env = TrackingVecEnv(make_env(cfg.env, shared if data.tracked is library else data.tracked),
                         env_key(cfg.seed, ranks.rank))
    clips = eval_clips(cfg, np.asarray(library.clip_length))
    eval_env = make_env(eval_config(cfg.env, len(clips)), shared) if ranks.main else None
    held_out = data.held_out if ranks.main else None
    held_out_env = None if held_out is None else make_env(eval_config(cfg.env, held_out.num_clips), held_out)
    mirror = env_mirror(cfg.env, env.env, device) if cfg.algo.symmetry else None
    learner = Learner(cfg.algo, env.obs_size, env.critic_obs_size, env.action_size, device, mirror)
    distributed.broadcast_tensors(learner.tensors())
    if ranks.main and not resume:
        save(data, run_dir)
        write_config(cfg, run_dir)
    return Trainer(cfg, run_dir, env, learner, eval_env, clips, held_out_env, resume)


def env_mirror(cfg: EnvConfig, env: TrackingEnv, device: str | torch.device) -> Mirror:
    """The left–right mirror of this env's observations (actor and critic share a layout) and actions."""
    obs = mirror_map(cfg.obs)
    return Mirror.of(obs, obs, (HINGE_SWAP, HINGE_SIGN), np.asarray(env.action_offset),
                     np.asarray(env.action_scale), device)


def eval_clips(cfg: TrainConfig, lengths: np.ndarray) -> np.ndarray:
    """The training clips (of lengths `lengths`) that evaluations during training play: `eval_clips`
    of them, spread over their lengths, or as many as cost ≤ 5 % of the env steps between two."""
    between = (cfg.eval_every or cfg.iterations) * cfg.env.num_envs * cfg.steps_per_env  # env steps
    count = len(lengths) if cfg.eval_clips == 0 else cfg.eval_clips or eval_clip_count(lengths, between)
    return stratified_clips(lengths, count)


def env_key(seed: int, rank: int, resumed_at: int | None = None) -> jax.Array:
    """The training env's key at the start or when resumed at an iteration, its own on every rank
    (rank 0: the single-process one)."""
    key = jax.random.key(seed)  # resumed at 0 (after the prior): the env a fresh run starts from
    key = jax.random.fold_in(key, resumed_at) if resumed_at else key
    return jax.random.fold_in(key, 100_003 * rank) if rank else key
