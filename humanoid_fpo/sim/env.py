"""The tracking env: N humanoids imitating library clips, as pure functions over `EnvState`.

    env = make_env(EnvConfig(num_envs=4096), library)
    state = reset(env, key)              # reference-state initialisation of every env
    state = step(env, state, action)     # (N, 69) actions in [-1, 1] → PD targets, physics, reward
    state = replay(env, state)           # kinematic replay: the physics state is set to the reference
    frame = reference(env, state.episode, state.episode.step + 1)   # the goal frame, world coordinates

`TrackingEnv` is a pytree (engine, library and terrain arrays are leaves, the config is static), so
the jitted functions take it as an argument instead of baking megabytes of constants into the
program. Finished envs are reset inside `step`; `state.info` holds what happened before the reset.

The task is written once over a physics engine (sim/engines/, chosen by `EnvConfig.backend` in
`make_env`), which only sets states (`engine.pose`) and advances them `decimation` physics steps
(`engine.simulate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from humanoid_fpo.motion.library import MotionFrame, MotionLibrary, check_compatible, query
from humanoid_fpo.sim import curriculum
from humanoid_fpo.sim.config import MODES, EnvConfig, check_env
from humanoid_fpo.sim.engines import Engine, PhysicsState, make_engine, resolve_backend
from humanoid_fpo.sim.observations import goal_masks, obs_layout, observe, ref_bodies, scan_points, sim_bodies
from humanoid_fpo.sim.randomize import NONE, Physical, noisy, push, sample_physical
from humanoid_fpo.sim.reference import place, shift_for
from humanoid_fpo.sim.rewards import FAIL_DISTANCE, body_errors, protocol_error, tracking_reward
from humanoid_fpo.sim.scene import make_scene
from humanoid_fpo.sim.terrain import Terrain, make_terrain


def use_jax_cache(path: str | None) -> None:
    """Keep compiled env functions on disk (minutes of compiling per env config on a CPU)."""
    if path:
        jax.config.update("jax_compilation_cache_dir", str(Path(path).expanduser()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def mean_pose(library: MotionLibrary) -> tuple[float, ...]:
    """(A,) rad: the mean joint angles over every frame of the library (a standing pose for
    ordinary motion sets), a `default_pose` that does not depend on the current reference."""
    return tuple(float(x) for x in np.asarray(library.qpos)[:, 7:].mean(0))


def eval_config(cfg: EnvConfig, num_envs: int) -> EnvConfig:
    """The success-rate protocol: frame 0, no heading or physical randomisation, fail where the
    protocol error passes FAIL_DISTANCE (0.5 m), play each clip to its end, restart the same clip."""
    return replace(cfg, num_envs=num_envs, random_heading=False, random_start=False, resample_clips=False,
                   termination="mean_body", termination_distance=FAIL_DISTANCE, max_episode_steps=None,
                   randomize=NONE, terrain=replace(cfg.terrain, curriculum=False))


class Episode(NamedTuple):
    """Per-env episode variables (N,)."""

    clip: jax.Array  # int, library clip
    start: jax.Array  # s into the clip at step 0
    step: jax.Array  # int, control steps taken
    yaw: jax.Array  # rad, heading rotation of the reference
    shift: jax.Array  # (N, 2) m, reference translation
    level: jax.Array  # int, terrain difficulty row
    tile: jax.Array  # int, terrain type column
    mode: jax.Array  # int, index into observations.MODES
    physical: Physical


@dataclass(frozen=True)
class EnvState:
    data: PhysicsState  # batched (N, ...)
    obs: jax.Array  # (N, O) actor
    critic_obs: jax.Array  # (N, O) the same layout with the full goal
    reward: jax.Array  # (N,)
    terminated: jax.Array  # (N,) bool: failed (or blew up)
    truncated: jax.Array  # (N,) bool: reached the clip end or max_episode_steps
    episode: Episode
    clip_fail_rate: jax.Array  # (C,) moving average per clip, drives clip sampling
    termination_distance: jax.Array  # () m, moved by the trainer's termination curriculum
    rng: jax.Array
    info: dict[str, jax.Array]  # of the transition, before any reset (see _evaluate)

    @property
    def done(self) -> jax.Array:
        return self.terminated | self.truncated

    def replace(self, **changes) -> EnvState:
        return replace(self, **changes)


@dataclass(frozen=True)
class TrackingEnv:
    engine: Engine  # the physics: sim/engines/
    library: MotionLibrary
    terrain: Terrain
    action_offset: jax.Array  # (A,) PD target at action 0
    action_scale: jax.Array  # (A,) PD target change per unit action
    masks: jax.Array  # (3, 24, 24) goal feature masks of MODES
    scan: jax.Array  # (S, 2) height-scan points
    noise_columns: jax.Array  # (O,) 1 where observation noise applies
    cfg: EnvConfig  # with a concrete backend (make_env resolves auto)
    nbody: int
    mj_model: mujoco.MjModel | None = None
    """The MuJoCo model, for rendering and checks; not part of the pytree (an MjModel compares by
    identity, so every make_env would retrace the jitted functions), None inside them."""

    @property
    def num_envs(self) -> int:
        return self.cfg.num_envs

    @property
    def action_size(self) -> int:
        return self.action_offset.shape[0]

    @property
    def layout(self) -> dict[str, slice]:
        return obs_layout(self.cfg.obs)

    @property
    def obs_size(self) -> int:
        return self.noise_columns.shape[0]


jax.tree_util.register_dataclass(EnvState, data_fields=list(EnvState.__dataclass_fields__), meta_fields=[])
jax.tree_util.register_dataclass(
    TrackingEnv, meta_fields=["cfg", "nbody"], drop_fields=["mj_model"],
    data_fields=[f for f in TrackingEnv.__dataclass_fields__ if f not in ("cfg", "nbody", "mj_model")])


def make_env(cfg: EnvConfig, library: MotionLibrary) -> TrackingEnv:
    """Build the scene and move the library and terrain to the device; bad settings raise here,
    before anything compiles."""
    cfg = resolve_backend(cfg)
    _check(cfg, library)
    terrain = make_terrain(cfg.terrain)
    mj_model = make_scene(terrain, cfg.contact, cfg.physics_dt, cfg.solver, cfg.solver_iterations,
                          cfg.ls_iterations, cfg.model_path)
    check_compatible(library, mj_model, "motion library")
    offset, scale = action_transform(cfg, mj_model)
    layout = obs_layout(cfg.obs)
    noise = np.zeros(layout["height_scan"].stop, dtype=np.float32)
    for name in ("root_height", "body_pos", "body_rot", "body_lin_vel", "body_ang_vel", "height_scan"):
        noise[layout[name]] = 1.0
    return TrackingEnv(
        engine=make_engine(cfg, mj_model), library=jax.device_put(library), terrain=jax.device_put(terrain),
        action_offset=jnp.asarray(offset), action_scale=jnp.asarray(scale),
        masks=jnp.asarray(goal_masks()), scan=jnp.asarray(scan_points(cfg.obs)),
        noise_columns=jnp.asarray(noise), cfg=cfg, nbody=mj_model.nbody, mj_model=mj_model)


def action_transform(cfg: EnvConfig, mj_model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """(A,) offset and scale of the PD targets `offset + scale * a`: the default pose (or the middle
    of each joint's range) and each joint's half range."""
    low, high = mj_model.actuator_ctrlrange.T
    offset = (high + low) / 2 if cfg.default_pose is None else np.asarray(cfg.default_pose)
    return offset.astype(np.float32), ((high - low) / 2).astype(np.float32)


def action_for(env: TrackingEnv, joints: jax.Array) -> jax.Array:
    """(N, A) the normalised actions whose PD targets are the joint angles `joints` (N, A), clipped
    to [-1, 1] as `step` clips them."""
    return jnp.clip((joints - env.action_offset) / env.action_scale, -1.0, 1.0)


def _check(cfg: EnvConfig, library: MotionLibrary) -> None:
    if library.num_clips == 0:
        raise ValueError("the motion library is empty: no clips to track")
    short = [n for n, length in zip(library.clip_names, library.clip_length) if length < 2]
    if short:
        raise ValueError(f"clips too short to track (fewer than 2 frames): {', '.join(short)}")
    check_env(cfg)
    if not math.isclose(cfg.control_dt * library.fps, 1.0, rel_tol=1e-6):
        raise ValueError(f"control_dt {cfg.control_dt:g} s differs from the library's frame period "
                         f"1/{library.fps:g} s")
    actuated = library.qpos.shape[1] - 7
    if cfg.default_pose is not None and len(cfg.default_pose) != actuated:
        raise ValueError(f"default_pose has {len(cfg.default_pose)} angles, the humanoid {actuated} joints")


# --- public functions -------------------------------------------------------------------------

def reset(env: TrackingEnv, key: jax.Array, clip_ids: jax.Array | None = None,
          modes: jax.Array | None = None) -> EnvState:
    """Start every env from its reference; `clip_ids` (N,) picks the clips (else drawn by weight),
    `modes` (N,) the goal modes (indices into MODES; else cfg.conditioning and goal_drop_ratio).
    Without resample_clips, envs keep their clip and mode at every restart, so one compiled env
    evaluates every conditioning mode."""
    clip_ids = _indices(clip_ids, env.num_envs, env.library.num_clips, "clip_ids")
    state = _reset(env, key, clip_ids, _indices(modes, env.num_envs, len(MODES), "modes"))
    # Committed to the device, as every later state is (actions come from torch by DLPack, which
    # commits them): otherwise the first and the second `step` compile separately.
    return jax.device_put(state, jax.devices()[0])


def _indices(x: jax.Array | None, n: int, bound: int, name: str) -> jax.Array | None:
    if x is None:
        return None
    x = np.asarray(x)
    if x.shape != (n,) or x.min() < 0 or x.max() >= bound:
        raise ValueError(f"{name} must be {n} indices below {bound}, "
                         f"got shape {x.shape} and range [{x.min()}, {x.max()}]")
    return jnp.asarray(x, jnp.int32)


@jax.jit
def _reset(env: TrackingEnv, key: jax.Array, clip_ids: jax.Array | None, modes: jax.Array | None) -> EnvState:
    cfg = env.cfg
    k_level, k_episode, k_noise, key = jax.random.split(key, 4)
    levels = jax.random.randint(k_level, (cfg.num_envs,), 0, cfg.terrain.init_max_level + 1)
    fail_rate = jnp.zeros(env.library.num_clips)
    episode = _new_episodes(env, k_episode, levels, fail_rate, clip_ids)
    if modes is not None:
        episode = episode._replace(mode=modes)
    data, obs, critic_obs = _start(env, episode, k_noise)
    distance = jnp.float32(cfg.termination_distance)
    _, _, info = _evaluate(env, episode, data, _healthy(env, data), distance)
    zeros = jnp.zeros(cfg.num_envs, dtype=bool)
    return EnvState(data=data, obs=obs, critic_obs=critic_obs, reward=jnp.zeros(cfg.num_envs),
                    terminated=zeros, truncated=zeros, episode=episode, clip_fail_rate=fail_rate,
                    termination_distance=distance, rng=key, info=info)


@jax.jit
def step(env: TrackingEnv, state: EnvState, action: jax.Array) -> EnvState:
    """Advance every env by one control step with `action` (N, A); finished envs restart."""
    cfg = env.cfg
    key, k_push, k_next = jax.random.split(state.rng, 3)
    ctrl = env.action_offset + env.action_scale * jnp.clip(action, -1.0, 1.0)
    qvel = push(cfg.randomize, k_push, state.data.qvel, cfg.control_dt)
    data = _simulate(env, state.episode.physical, state.data.replace(ctrl=ctrl, qvel=qvel))
    return _advance(env, state.replace(rng=key), data, k_next)


@jax.jit
def replay(env: TrackingEnv, state: EnvState) -> EnvState:
    """Kinematic replay: set every env's physics state to its reference one control step on."""
    key, k_next = jax.random.split(state.rng)
    ref = reference(env, state.episode, state.episode.step + 1)
    data = _pose(env, state.episode.physical, ref.qpos, ref.qvel, state.data)
    return _advance(env, state.replace(rng=key), data, k_next)


@jax.jit
def with_levels(state: EnvState, levels: jax.Array) -> EnvState:
    """Curriculum hook: move envs to terrain `levels` (N,); each takes effect at the env's next reset."""
    level = jnp.broadcast_to(jnp.asarray(levels, jnp.int32), state.episode.level.shape)
    return state.replace(episode=state.episode._replace(level=level))


@jax.jit
def with_termination_distance(state: EnvState, distance: jax.Array) -> EnvState:
    """Curriculum hook: terminate from the next step on at `distance` m."""
    return state.replace(termination_distance=jnp.asarray(distance, jnp.float32))


def observe_states(env: TrackingEnv, episode: Episode, qpos: jax.Array,
                   qvel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(actor, critic) observations (N, O), without noise, of any physics states qpos (N, nq),
    qvel (N, nv) against the episodes' next reference frames: what deploy/ rebuilds with numpy."""
    # An engine may hand the states to a host callback (native); one still being computed when the
    # program starts hangs XLA's CPU runtime there (seen with one XLA thread), so wait for them.
    return _observe_states(env, *jax.block_until_ready((episode, qpos, qvel)))


@jax.jit
def _observe_states(env: TrackingEnv, episode: Episode, qpos: jax.Array,
                    qvel: jax.Array) -> tuple[jax.Array, jax.Array]:
    return _observe_clean(env, episode, _pose(env, episode.physical, qpos, qvel))


@jax.jit
def episodes_at(env: TrackingEnv, clip: jax.Array, start: jax.Array, mode: jax.Array) -> Episode:
    """Episodes (M,) of `clip` (M,) starting `start` s (M,) into it, with goal `mode` (M,): on the
    first tile, no heading change, physics unrandomised. With `reference` and `observe_states` they
    give the env's observation of chosen reference frames (the motion prior's data)."""
    m = clip.shape[0]
    origin = jnp.broadcast_to(env.terrain.tile_centres[0, 0], (m, 2))
    yaw, zeros = jnp.zeros(m), jnp.zeros(m, jnp.int32)
    ones = lambda *shape: jnp.ones((m, *shape))
    physical = Physical(ones(), ones(env.nbody), ones(env.action_size), ones(env.action_size))
    return Episode(clip=clip, start=start, step=zeros, yaw=yaw, level=zeros, tile=zeros, mode=mode,
                   shift=shift_for(query(env.library, clip, start), yaw, origin), physical=physical)


def reference(env: TrackingEnv, episode: Episode, step: jax.Array) -> MotionFrame:
    """Reference of every env at `step` (N,) control steps into its episode, in the env's world."""
    frame = query(env.library, episode.clip, episode.start + step * env.cfg.control_dt)
    return place(frame, episode.yaw, episode.shift, env.terrain)


# --- one transition ---------------------------------------------------------------------------

def _advance(env: TrackingEnv, state: EnvState, data: PhysicsState, key: jax.Array) -> EnvState:
    """Score the new physics state, observe, and reset the envs that finished."""
    cfg = env.cfg
    k_noise, k_reset = jax.random.split(key)
    episode = state.episode._replace(step=state.episode.step + 1)
    healthy = _healthy(env, data)
    reward, failed, info = _evaluate(env, episode, data, healthy, state.termination_distance)
    terminated = failed | ~healthy
    t_next = episode.start + (episode.step + 1) * cfg.control_dt
    truncated = t_next > env.library.durations[episode.clip] + 1e-4
    if cfg.max_episode_steps is not None:
        truncated |= episode.step >= cfg.max_episode_steps
    truncated &= ~terminated
    obs, critic_obs = _observe(env, episode, data, k_noise)
    done = terminated | truncated
    fail_rate, level = state.clip_fail_rate, episode.level
    if cfg.resample_clips:
        fail_rate = curriculum.update_fail_rate(fail_rate, episode.clip, done, terminated,
                                                cfg.clip_fail_smoothing)
    if cfg.terrain.curriculum:
        level = jnp.where(done, curriculum.next_levels(level, terminated, truncated, env.terrain.num_levels),
                          level)
    state = EnvState(data=data, obs=obs, critic_obs=critic_obs, reward=jnp.where(healthy, reward, 0.0),
                     terminated=terminated, truncated=truncated, episode=episode._replace(level=level),
                     clip_fail_rate=fail_rate, termination_distance=state.termination_distance, rng=state.rng,
                     info=info)
    return jax.lax.cond(done.any(), lambda s: _restart(env, s, k_reset), lambda s: s, state)


def _restart(env: TrackingEnv, state: EnvState, key: jax.Array) -> EnvState:
    """Replace the finished envs (state.done) by fresh episodes; info, reward and flags stay."""
    k_episode, k_noise = jax.random.split(key)
    keep = None if env.cfg.resample_clips else state.episode.clip
    fresh = _new_episodes(env, k_episode, state.episode.level, state.clip_fail_rate, keep)
    if not env.cfg.resample_clips:
        fresh = fresh._replace(mode=state.episode.mode)
    data, obs, critic_obs = _start(env, fresh, k_noise, state.done)
    done = state.done

    def pick(new, old):
        return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)

    return state.replace(data=jax.tree.map(pick, data, state.data), obs=pick(obs, state.obs),
                         critic_obs=pick(critic_obs, state.critic_obs),
                         episode=jax.tree.map(pick, fresh, state.episode))


def _evaluate(env: TrackingEnv, episode: Episode, data: PhysicsState, healthy: jax.Array,
              distance: jax.Array) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Reward (N,), failure flags (N,) at termination `distance` m, and info of `data` against the
    reference at episode.step."""
    cfg = env.cfg
    frame = reference(env, episode, episode.step)
    ref, sim = ref_bodies(frame), sim_bodies(data)
    reward, terms = tracking_reward(cfg.reward, sim, ref, data.actuator_force, data.qvel[:, 6:], episode.step)
    error, local_error = body_errors(sim, ref)
    if cfg.termination == "any_body":
        failed = error.max(axis=-1) > distance
    else:
        failed = protocol_error(error) > distance
    clean = healthy[:, None]
    info = {f"reward/{name}": jnp.where(healthy, value, 0.0) for name, value in terms.items()}
    info |= {
        "body_error": jnp.where(clean, error, 0.0),  # (N, 24) m
        "body_error_local": jnp.where(clean, local_error, 0.0),  # (N, 24) m, root-relative
        "body_pos": jnp.where(clean[..., None], sim.pos, 0.0),  # (N, 24, 3)
        "qpos": jnp.where(clean, data.qpos, 0.0),  # (N, nq): the pose before any reset (an episode's last)
        "ref_body_pos": ref.pos,  # (N, 24, 3)
        "physics_reset": ~healthy,
        "episode_length": episode.step,
        "clip": episode.clip,
        "level": episode.level,
    }
    return reward, failed, info


def _healthy(env: TrackingEnv, data: PhysicsState) -> jax.Array:
    """(N,) physics state finite and not blown up."""
    finite = jnp.isfinite(data.qpos).all(axis=-1) & jnp.isfinite(data.qvel).all(axis=-1)
    return finite & (jnp.abs(data.qvel) < env.cfg.max_joint_speed).all(axis=-1)


# --- episodes, references, physics -----------------------------------------------------------

def _new_episodes(env: TrackingEnv, key: jax.Array, level: jax.Array, fail_rate: jax.Array,
                  clip: jax.Array | None) -> Episode:
    cfg, lib, n = env.cfg, env.library, env.cfg.num_envs
    keys = jax.random.split(key, 7)
    if clip is None:
        p = curriculum.clip_probabilities(fail_rate, cfg.clip_uniform_share)
        clip = jax.random.choice(keys[0], lib.num_clips, (n,), p=p)
    if cfg.random_start:  # a whole frame, at least one step before the clip's end
        start = jnp.floor(jax.random.uniform(keys[1], (n,)) * (lib.clip_length[clip] - 1)) / lib.fps
    else:
        start = jnp.zeros(n)
    yaw = jax.random.uniform(keys[2], (n,), minval=-jnp.pi, maxval=jnp.pi) if cfg.random_heading \
        else jnp.zeros(n)
    tile = jax.random.randint(keys[3], (n,), 0, env.terrain.tile_centres.shape[1])
    origin = env.terrain.tile_centres[level, tile]
    shift = shift_for(query(lib, clip, start), yaw, origin)
    return Episode(clip=clip, start=start, step=jnp.zeros(n, jnp.int32), yaw=yaw, shift=shift, level=level,
                   tile=tile, mode=_sample_modes(cfg, keys[4], n),
                   physical=sample_physical(cfg.randomize, keys[5], n, env.nbody, env.action_size))


def _sample_modes(cfg: EnvConfig, key: jax.Array, n: int) -> jax.Array:
    """(N,) goal modes: the configured one, or with goal_drop_ratio one of the sparser ones."""
    base = MODES.index(cfg.conditioning)
    sparser = len(MODES) - 1 - base
    if sparser == 0 or cfg.goal_drop_ratio == 0.0:
        return jnp.full(n, base, jnp.int32)
    k_drop, k_pick = jax.random.split(key)
    drop = jax.random.uniform(k_drop, (n,)) < cfg.goal_drop_ratio
    return jnp.where(drop, base + 1 + jax.random.randint(k_pick, (n,), 0, sparser), base).astype(jnp.int32)


def _start(env: TrackingEnv, episode: Episode, key: jax.Array,
           active: jax.Array | None = None) -> tuple[PhysicsState, jax.Array, jax.Array]:
    """Physics state and observations at step 0 of `episode` (reference-state initialisation); the
    engine may compute only the `active` (N,) envs' kinematics (the others are discarded)."""
    ref = reference(env, episode, episode.step)
    data = _pose(env, episode.physical, ref.qpos, ref.qvel, active=active)
    return (data, *_observe(env, episode, data, key))


def _observe(env: TrackingEnv, episode: Episode, data: PhysicsState,
             key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(actor, critic) observations of `data` with the next reference frame as the goal."""
    actor, critic = _observe_clean(env, episode, data)
    return noisy(env.cfg.randomize, key, actor, env.noise_columns), critic


def _observe_clean(env: TrackingEnv, episode: Episode, data: PhysicsState) -> tuple[jax.Array, jax.Array]:
    goal = ref_bodies(reference(env, episode, episode.step + 1))
    return observe(env.terrain, env.scan, env.masks, episode.mode, sim_bodies(data), goal,
                   env.cfg.obs.actor_height_scan)


def _simulate(env: TrackingEnv, physical: Physical, data: PhysicsState) -> PhysicsState:
    """`decimation` physics steps per env, then kinematics of the final state."""
    return env.engine.simulate(physical, data)


def _pose(env: TrackingEnv, physical: Physical, qpos: jax.Array, qvel: jax.Array,
          data: PhysicsState | None = None, active: jax.Array | None = None) -> PhysicsState:
    """Data (N) at `qpos`, `qvel`: fresh (reset) or `data` with its state replaced (replay).
    `active` (N,): the only envs whose result is used (an engine may compute just those)."""
    return env.engine.pose(physical, qpos, qvel, data, active)
