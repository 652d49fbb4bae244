"""The left–right mirror: of clips (twice is the clip), of states (the mirrored state's observation is
the mirror map of the observation), of actions (PD targets mirror), and of the learner's transitions
(a mirrored transition's ratio divides by its behaviour probability)."""

from __future__ import annotations

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import torch
from test_learn import FPO_PP, PPO
from toy_envs import PointMass

from humanoid_fpo.body.humanoid import build_mjcf, hinge_names
from humanoid_fpo.body.mirror import (AXIAL, HINGE_SIGN, HINGE_SWAP, QUAT, VECTOR, mirror_bodies, mirror_hinges,
                                      mirror_qpos, mirror_qvel, symmetric)
from humanoid_fpo.learn.config import AlgoConfig
from humanoid_fpo.learn.gae import compute_gae
from humanoid_fpo.learn.learner import MIRRORED, Learner, with_mirrored
from humanoid_fpo.learn.rollout import EpisodeTracker, collect
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.learn.symmetry import Mirror
from humanoid_fpo.motion.kinematics import body_states
from humanoid_fpo.motion.library import MIRROR_SUFFIX, build_library, with_mirrors
from humanoid_fpo.motion.retarget import RetargetedClip
from humanoid_fpo.sim.config import MODES, EnvConfig, ObsConfig, TerrainConfig
from humanoid_fpo.sim.env import action_transform
from humanoid_fpo.sim.observations import Bodies, goal_masks, mirror_map, obs_layout, observe, scan_points
from humanoid_fpo.sim.terrain import make_terrain
from humanoid_fpo.body.skeleton import mean_shape


@pytest.fixture(scope="module")
def symmetric_model() -> mujoco.MjModel:
    """The humanoid on the mean shape made exactly left–right symmetric: mirrors are exact on it."""
    return mujoco.MjModel.from_xml_string(build_mjcf(symmetric(mean_shape())))


def random_motion(model: mujoco.MjModel, rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, nq), (T, nv): a random root pose and joint angles, random velocities (not a motion anyone
    makes: every component differs, so that a wrong index or sign shows)."""
    qpos = np.zeros((frames, model.nq))
    qpos[:, :3] = rng.normal(size=(frames, 3)) + [0, 0, 1]
    quat = rng.normal(size=(frames, 4))
    qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    qpos[:, 7:] = rng.uniform(-0.8, 0.8, size=(frames, model.nq - 7))
    return qpos, rng.normal(size=(frames, model.nv))


def test_the_maps_pair_left_with_right() -> None:
    names = hinge_names()
    assert names[HINGE_SWAP[names.index("L_Knee_x")]] == "R_Knee_x"
    assert names[HINGE_SWAP[names.index("Spine_z")]] == "Spine_z"
    assert (HINGE_SWAP[HINGE_SWAP] == np.arange(69)).all()
    assert HINGE_SIGN[names.index("L_Shoulder_y")] == 1 and HINGE_SIGN[names.index("L_Shoulder_z")] == -1


def test_mirroring_a_clip_twice_gives_the_clip_back(tracking_library, model) -> None:
    library = tracking_library
    twice = with_mirrors(with_mirrors(library, model), model)  # clips, mirrors, mirrors, mirrors of mirrors
    c, n = library.num_clips, len(library.qpos)
    assert twice.clip_names[c] == library.clip_names[0] + MIRROR_SUFFIX
    assert twice.clip_names[3 * c:] == tuple(name + 2 * MIRROR_SUFFIX for name in library.clip_names)
    np.testing.assert_array_equal(twice.clip_length[3 * c:], library.clip_length)
    np.testing.assert_array_equal(twice.clip_start[3 * c:], library.clip_start + 3 * n)
    for field in ("qpos", "qvel"):
        np.testing.assert_array_equal(getattr(twice, field)[3 * n:], getattr(library, field))
    for field in ("body_pos", "body_quat", "body_lin_vel", "body_ang_vel"):
        np.testing.assert_allclose(getattr(twice, field)[3 * n:], getattr(library, field), atol=2e-5, err_msg=field)
    assert not np.allclose(twice.qpos[n:2 * n], library.qpos)  # the mirror itself is another motion


@pytest.mark.parametrize("which", ["symmetric", "mean shape"])
def test_a_mirrored_clip_is_the_mirror_of_its_bodies(which: str, symmetric_model, model) -> None:
    """Kinematics of the mirrored joint angles = the mirrored body states: exact on the symmetric body,
    within the mean shape's asymmetry on the humanoid itself (each joint offset within 5.5 mm of its
    twin's mirror, so up to 2 cm along an arm)."""
    m = symmetric_model if which == "symmetric" else model
    qpos, qvel = random_motion(m, np.random.default_rng(0), 5)
    clip = RetargetedClip(name="random", source="test", fps=30.0, qpos=qpos, fit_error=0.0, fit_error_max=0.0,
                          contact_error=0.0, qvel=qvel)
    library = with_mirrors(build_library([clip], m), m)
    own, mirrored = slice(0, 5), slice(5, 10)
    position = 1e-5 if which == "symmetric" else 0.025
    rules = {"body_pos": (VECTOR, position), "body_quat": (QUAT, 1e-5),
             "body_lin_vel": (VECTOR, 1e-4 if which == "symmetric" else 0.1), "body_ang_vel": (AXIAL, 1e-4)}
    for field, (rule, tol) in rules.items():
        x = getattr(library, field)
        np.testing.assert_allclose(x[mirrored], mirror_bodies(x[own], rule), atol=tol, err_msg=field)


def bodies(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray) -> Bodies:
    states = body_states(model, qpos, qvel)
    return Bodies(*(jnp.asarray(states[k], jnp.float32) for k in ("pos", "quat", "lin_vel", "ang_vel")))


@pytest.mark.parametrize("mode", MODES)
def test_a_mirrored_state_observes_the_mirrored_observation(mode: str, symmetric_model) -> None:
    """Observe a state and goal, then their mirrors (qpos and qvel mirrored, kinematics by MuJoCo):
    the second observation is the first through `mirror_map`, actor and critic alike."""
    rng, n, cfg = np.random.default_rng(1), 4, ObsConfig()
    state, goal = random_motion(symmetric_model, rng, n), random_motion(symmetric_model, rng, n)
    terrain, points = make_terrain(TerrainConfig()), jnp.asarray(scan_points(cfg))
    masks, modes = jnp.asarray(goal_masks()), jnp.full(n, MODES.index(mode))

    def observed(mirror) -> tuple[np.ndarray, np.ndarray]:
        sim, ref = (bodies(symmetric_model, mirror(qp, mirror_qpos), mirror(qv, mirror_qvel)) for qp, qv in (state, goal))
        return tuple(np.asarray(x) for x in observe(terrain, points, masks, modes, sim, ref))

    actor, critic = observed(lambda x, f: x)
    mirrored_actor, mirrored_critic = observed(lambda x, f: f(x))
    index, sign = mirror_map(cfg)
    layout = obs_layout(cfg)
    assert sorted(index) == list(range(layout["height_scan"].stop))  # a permutation
    np.testing.assert_allclose(mirrored_actor, actor[:, index] * sign, atol=2e-4)
    np.testing.assert_allclose(mirrored_critic, critic[:, index] * sign, atol=2e-4)
    # the scan (flat here) by its points: the mirror of each point is the point it is sent to
    scan = index[layout["height_scan"]] - layout["height_scan"].start
    np.testing.assert_allclose(scan_points(cfg)[scan], scan_points(cfg) * [1, -1])


def test_a_mirrored_action_drives_the_mirrored_pd_targets(model) -> None:
    """Actions are PD targets about a default pose; about an asymmetric one the mirror is affine."""
    rng = np.random.default_rng(2)
    offset, scale = action_transform(EnvConfig(), model)
    offset = offset + rng.normal(scale=0.1, size=offset.shape).astype(np.float32)  # an asymmetric pose
    obs = (np.arange(3), np.ones(3))
    mirror = Mirror.of(obs, obs, (HINGE_SWAP, HINGE_SIGN), offset, scale)
    a = torch.as_tensor(rng.uniform(-0.5, 0.5, size=(5, 69)), dtype=torch.float32)
    targets = offset + scale * a.numpy()
    np.testing.assert_allclose(offset + scale * mirror.action(a).numpy(), mirror_hinges(targets), atol=1e-5)


def toy_mirror(env: PointMass) -> Mirror:
    """A map of the toy's observations and actions: their order reversed, alternate signs."""
    def flip(size: int) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(size)[::-1].copy(), np.where(np.arange(size) % 2, -1.0, 1.0)

    zeros = np.zeros(env.action_size, np.float32)
    return Mirror.of(flip(env.obs_size), flip(env.critic_obs_size), flip(env.action_size), zeros, zeros + 1)


@pytest.mark.parametrize("cfg", [FPO_PP, PPO], ids=["fpo_pp", "ppo"])
def test_a_mirrored_transition_is_learned_with_its_behaviour_probability(cfg: AlgoConfig) -> None:
    """Before the update the recorded half's ratio is 1. The flow's mirrored half divides by the acting
    weights' CFM losses of the mirrored pair, so its ratio is 1 too; the Gaussian's by the recorded
    action's log-probability, so its log-ratio is log π(a'|o') − log π(a|o). The halves share advantages."""
    torch.manual_seed(0)
    env = PointMass(16)
    mirror = toy_mirror(env)
    learner = Learner(cfg, env.obs_size, env.critic_obs_size, env.action_size, mirror=mirror)
    storage = RolloutStorage(8)
    last = collect(learner, env, storage, EpisodeTracker(env.num_envs, torch.device("cpu")))
    adv, ret = compute_gae(storage["rewards"], storage["values"], storage["dones"], last, 0.99, 0.95)
    batch = with_mirrored(next(storage.minibatches(2, 1, {"advantages": adv, "returns": ret})))
    half = batch["obs"].shape[0] // 2
    assert not any(k.startswith(MIRRORED) for k in batch)
    torch.testing.assert_close(batch["actions"][half:], mirror.action(batch["actions"][:half]))
    torch.testing.assert_close(batch["advantages"][half:], batch["advantages"][:half])
    _, _, log_ratio, _ = learner.losses(batch)
    assert log_ratio[:half].exp().sub(1).abs().max() < 1e-6
    if cfg.policy == "flow":
        assert log_ratio[half:].exp().sub(1).abs().max() < 1e-6
    else:
        with torch.no_grad():
            density = learner.policy.distribution(batch["obs"]).log_prob(batch["actions"]).sum(-1)
        torch.testing.assert_close(log_ratio[half:, 0], density[half:] - density[:half])
        assert log_ratio[half:].abs().max() > 1e-3  # the toy's policy is not symmetric: not trivially 1
    metrics = learner.update(storage, last)
    assert np.isfinite(metrics["policy_loss"])
