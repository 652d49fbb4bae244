"""The Warp engine (env.backend=warp: MJX's Warp implementation, on Warp's CPU device here) against
the native engine (MuJoCo C): the same reference states under the same PD targets for a few control
steps, compared state by state; and what env.backend=warp does where Warp is missing.

In the air (no contacts) the engines agree to float32 precision, so that a scaled mass or PD gain
that one engine dropped, or an action applied differently, shows; on the ground the contact solvers
(float32 Warp, float64 MuJoCo C, both Newton at 4 iterations) leave millimetres. Warp's first use
builds its kernels into .cache/warp (the project's, like .cache/jax); a rerun loads them.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from humanoid_fpo.motion.library import MotionLibrary
from humanoid_fpo.sim.config import EnvConfig
from humanoid_fpo.sim.engines import Engine
from humanoid_fpo.sim.env import TrackingEnv, action_for, eval_config, make_env, reference, reset, step
from humanoid_fpo.sim.quiet_mjx import mjx
from humanoid_fpo.sim.randomize import Physical

from conftest import ROOT

STEPS = 4
"""Control steps compared (1/30 s each, 4 physics steps): past the first contacts, short of chaos."""
AIR_TOL = {"qpos": 2e-6, "qvel": 2e-5}
"""rad or m, rad/s or m/s: 5-10x the largest difference measured in the air (qpos 2.4e-7, qvel 2.5e-6
with any one scale); every scale below moves the rollout by 10x this or more."""
GROUND_TOL = {"qpos": 1e-2, "qvel": 0.3}
"""3x the largest measured on the ground (qpos 3.6e-3, qvel 0.096: the feet's contacts)."""
TASK_TOL = {"obs": 0.1, "reward": 2e-4}
"""3-4x the largest measured over the task's first steps on the ground (obs 0.032, reward 4.7e-5)."""
SCALES = {"mass": 1.05, "kp": 0.9, "kv": 1.1}
"""One end of each default randomisation range (sim/config.py RandomizeConfig)."""


@pytest.fixture(scope="module")
def envs(warp_installed, tracking_library: MotionLibrary) -> dict[str, TrackingEnv]:
    """Two envs on each engine, with the default randomisation ranges (each engine scales its own
    model by the `Physical` it is given)."""
    return {b: make_env(EnvConfig(num_envs=2, backend=b), tracking_library) for b in ("native", "warp")}


def starts(library: MotionLibrary, lift: float = 0.0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """qpos (2, nq) and qvel (2, nv) of a walking and a squatting frame, raised by `lift` m, and as
    PD targets (2, nu) the joint angles of the frames after them."""
    frames = np.asarray(library.clip_start)[[library.clip_names.index(c) for c in ("walk", "squat")]] + 10
    qpos, qvel = (np.asarray(x)[frames] for x in (library.qpos, library.qvel))
    qpos[:, 2] += lift
    return jnp.asarray(qpos), jnp.asarray(qvel), jnp.asarray(np.asarray(library.qpos)[frames + 1, 7:])


@partial(jax.jit, static_argnums=5)
def rollout(engine: Engine, physical: Physical, qpos: jax.Array, qvel: jax.Array, targets: jax.Array,
            steps: int) -> dict[str, jax.Array]:
    """qpos (T, N, nq) and qvel (T, N, nv) after each of `steps` control steps under `targets`."""
    state = engine.pose(physical, qpos, qvel).replace(ctrl=targets)

    def control_step(s, _):
        s = engine.simulate(physical, s)
        return s, {"qpos": s.qpos, "qvel": s.qvel}

    return jax.lax.scan(control_step, state, None, length=steps)[1]


def physical(env: TrackingEnv, **scales: float) -> Physical:
    """Every env's scales (N, ...): 1 but for `scales` (friction, mass, kp, kv)."""
    n, nu = env.num_envs, env.action_size
    shapes = {"friction": (n,), "mass": (n, env.nbody), "kp": (n, nu), "kv": (n, nu)}
    return Physical(**{k: jnp.full(shape, scales.get(k, 1.0)) for k, shape in shapes.items()})


def largest(a: dict[str, jax.Array], b: dict[str, jax.Array]) -> dict[str, float]:
    """The largest |a - b| of qpos and of qvel over steps and envs."""
    return {k: float(jnp.abs(a[k] - b[k]).max()) for k in a}


@pytest.mark.parametrize("scaled", [None, *SCALES])
def test_warp_steps_as_native_does_in_the_air(envs, scaled: str | None) -> None:
    """1 m above the ground, nominal or with one physical scale: Warp's model fields batched over
    envs (MJX's Warp vmap) step as native's per-env MjModels do."""
    start = starts(envs["native"].library, lift=1.0)
    scales = physical(envs["native"], **({scaled: SCALES[scaled]} if scaled else {}))
    got = {b: rollout(env.engine, scales, *start, STEPS) for b, env in envs.items()}
    apart = largest(got["warp"], got["native"])
    print(f"in the air, {scaled or 'nominal'}: warp against native {apart}")
    assert all(apart[k] < AIR_TOL[k] for k in apart), apart
    if scaled:
        nominal = rollout(envs["native"].engine, physical(envs["native"]), *start, STEPS)
        assert all(v > 10 * AIR_TOL[k] for k, v in largest(nominal, got["native"]).items()), \
            f"{scaled} {SCALES[scaled]} hardly moves the rollout: the check could not see it dropped"


def test_warp_steps_as_native_does_on_the_ground(envs) -> None:
    start = starts(envs["native"].library)
    nominal = physical(envs["native"])
    got = {b: rollout(env.engine, nominal, *start, STEPS) for b, env in envs.items()}
    apart = largest(got["warp"], got["native"])
    print(f"on the ground: warp against native {apart}")
    assert all(apart[k] < GROUND_TOL[k] for k in apart), apart


def test_warp_plans_as_native_does(envs) -> None:
    """The teacher's `rollout`: 2 futures of one state in the air under their own PD targets."""
    qpos, qvel, targets = (np.asarray(x) for x in starts(envs["native"].library, lift=1.0))
    controls = np.stack([np.stack([targets[0]] * STEPS), np.stack([targets[1]] * STEPS)])  # (S, T, nu)
    warmstart = np.zeros_like(qvel[0])
    got = {b: env.engine.rollout(qpos[0], qvel[0], warmstart, controls) for b, env in envs.items()}
    apart = float(np.abs(got["warp"].xpos - got["native"].xpos).max())
    print(f"rollout, warp against native: xpos {apart:.2e}")
    assert apart < AIR_TOL["qpos"] and not got["warp"].failed.any()


def test_the_task_runs_on_warp_through_a_restart(warp_installed, tracking_library) -> None:
    """The jitted task over Warp (reset, step, the restart of envs whose episode ended) gives the
    rewards and observations of the native engine: the protocol env, episodes cut after 2 steps."""
    cfg = replace(eval_config(EnvConfig(), 2), max_episode_steps=2)
    clips = jnp.array([tracking_library.clip_names.index(c) for c in ("walk", "squat")])
    states = {}
    for b in ("native", "warp"):
        env = make_env(replace(cfg, backend=b), tracking_library)
        state, seen = reset(env, jax.random.key(0), clips), []
        for _ in range(3):
            goal = reference(env, state.episode, state.episode.step + 1)
            state = step(env, state, action_for(env, goal.qpos[:, 7:]))
            seen.append(state)
        states[b] = seen
    assert [bool(s.truncated.all()) for s in states["warp"]] == [False, True, False]
    for a, b in zip(states["warp"], states["native"]):
        apart = {k: float(jnp.abs(getattr(a, k) - getattr(b, k)).max()) for k in TASK_TOL}
        print(f"the task on warp against native: {apart}")
        assert apart["obs"] < TASK_TOL["obs"] and apart["reward"] < TASK_TOL["reward"], apart


def test_warps_contacts_take_each_envs_friction(envs) -> None:
    """Friction scales per env reach the contacts Warp makes (on the ground the contact solvers differ
    by more than a friction scale moves a few steps, so this looks at the contacts themselves)."""
    env = envs["warp"]
    qpos, qvel, _ = starts(env.library)
    scales = physical(env)._replace(friction=jnp.array([0.7, 1.3]))
    engine = env.engine
    d = engine.internal(engine.pose(scales, qpos, qvel))
    d = jax.jit(jax.vmap(lambda p, x: mjx.forward(engine.env_model(p), x)))(scales, d)
    used = np.arange(int(d._impl.nacon[0]))
    world = np.asarray(d._impl.contact__worldid)[used]
    friction = np.asarray(d._impl.contact__friction)[used, :2]
    assert set(world) == {0, 1}, "both envs stand on the ground"
    sliding = env.mj_model.pair_friction[0, 0]  # the same for every pair (body/humanoid.py)
    expected = sliding * np.asarray(scales.friction)[world, None]
    np.testing.assert_allclose(friction / expected, 1.0, rtol=1e-6)


def test_warp_keeps_its_kernels_under_the_project_cache(envs) -> None:
    import warp

    if "WARP_CACHE_PATH" in os.environ:
        pytest.skip("WARP_CACHE_PATH chooses Warp's kernel cache")
    assert warp.config.kernel_cache_dir.startswith(str(ROOT / ".cache" / "warp"))


def test_backend_warp_without_warp_names_the_install(tracking_library, monkeypatch) -> None:
    """One line saying what to install, before the scene is built."""
    find_spec = importlib.util.find_spec
    missing = lambda name, *args: None if name == "warp" else find_spec(name, *args)
    monkeypatch.setattr(importlib.util, "find_spec", missing)
    said = r"^env.backend=warp needs the warp package: pip install warp-lang==1.18.0$"
    with pytest.raises(ValueError, match=said):
        make_env(EnvConfig(num_envs=2, backend="warp"), tracking_library)
