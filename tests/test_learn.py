"""The learner on its own (torch only, no MJX): GAE, normaliser, storage, the FPO ratio and trust
regions, and training on tiny torch envs (tests/toy_envs.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from toy_envs import Bandit, PointMass

from humanoid_fpo.learn.config import AlgoConfig, NetConfig
from humanoid_fpo.learn.flow import FlowPolicy
from humanoid_fpo.learn.gae import compute_gae
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.learn.losses import asymmetric_objective, clip_objective, per_action_log_ratio, \
    per_sample_log_ratio
from humanoid_fpo.learn.normalizer import Normalizer
from humanoid_fpo.learn.rollout import EpisodeTracker, collect
from humanoid_fpo.learn.storage import RolloutStorage

SMALL = NetConfig((64, 64))
FPO_PP = AlgoConfig(policy="flow", ratio="per_sample", trust_region="asymmetric", actor=SMALL, critic=SMALL,
                    flow_steps=5, n_mc=8, ema=None, noise_std=1.0, clip=0.05, adaptive_lr=False, init_std=0.5,
                    min_std=0.02)
"""Toy-env settings: unit noise (the toy actions span about ±1) and a fixed lr."""
FPO = replace(FPO_PP, ratio="per_action", trust_region="clip", loss_clamp=None, log_ratio_clamp=None)
PPO = replace(FPO_PP, policy="gaussian", trust_region="clip", clip=0.2)


def train(cfg: AlgoConfig, env, iterations: int, steps: int, seed: int = 0) -> tuple[Learner, list[float]]:
    """`iterations` rollouts of `steps` steps and updates; the mean episode return of each."""
    torch.manual_seed(seed)
    learner = Learner(cfg, env.obs_size, env.critic_obs_size, env.action_size)
    storage, tracker = RolloutStorage(steps), EpisodeTracker(env.num_envs, torch.device("cpu"))
    returns = []
    for _ in range(iterations):
        learner.update(storage, collect(learner, env, storage, tracker))
        returns.append(tracker.pop()["episode_return"])
    return learner, returns


def rollout_batch(cfg: AlgoConfig, seed: int = 0) -> tuple[Learner, dict[str, torch.Tensor]]:
    """A learner after one PointMass rollout, and that rollout as one batch with advantages."""
    torch.manual_seed(seed)
    env = PointMass(32)
    learner = Learner(cfg, env.obs_size, env.critic_obs_size, env.action_size)
    storage = RolloutStorage(16)
    last = collect(learner, env, storage, EpisodeTracker(env.num_envs, torch.device("cpu")))
    adv, ret = compute_gae(storage["rewards"], storage["values"], storage["dones"], last, 0.99, 0.95)
    adv = (adv - adv.mean()) / adv.std()
    batch = next(storage.minibatches(4, 1, {"advantages": adv, "returns": ret}))
    return learner, batch


# --- pieces -----------------------------------------------------------------------------------

def test_gae_by_hand() -> None:
    # One env, 3 steps, γ = 0.5, λ = 0.5; the episode ends after step 1 (index 1).
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [2.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    last = torch.tensor([4.0])
    adv, ret = compute_gae(rewards, values, dones, last, gamma=0.5, lam=0.5)
    d2 = 3 + 0.5 * 4 - 2  # = 3, bootstraps from last
    d1 = 2 - 1.0  # = 1, episode ended: no bootstrap, no carry
    d0 = 1 + 0.5 * 1.0 - 0.5  # = 1
    expected = torch.tensor([[d0 + 0.25 * d1], [d1], [d2]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_normalizer_matches_the_whole_batch() -> None:
    data = torch.randn(1000, 5) * torch.tensor([1.0, 2, 3, 4, 5]) + 7
    norm = Normalizer(5)
    for chunk in data.split(137):
        norm.update(chunk)
    torch.testing.assert_close(norm.mean, data.mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(norm.var, data.var(0, unbiased=False), rtol=1e-4, atol=1e-4)
    assert norm(data).mean(0).abs().max() < 1e-3


def test_minibatches_cover_the_rollout_once_per_epoch() -> None:
    storage = RolloutStorage(4)
    for t in range(4):
        storage.add(x=torch.arange(6.0) + 10 * t)
    for epoch in range(2):
        seen = torch.cat([b["x"] for b in list(storage.minibatches(3, 2, {}))[3 * epoch:3 * epoch + 3]])
        assert sorted(seen.tolist()) == sorted(storage["x"].flatten().tolist())


# --- the ratio at the first minibatch ---------------------------------------------------------

@pytest.mark.parametrize("cfg", [FPO_PP, FPO, PPO], ids=["fpo_pp", "fpo", "ppo"])
def test_first_minibatch_ratio_is_one_and_clipping_is_inactive(cfg: AlgoConfig) -> None:
    learner, batch = rollout_batch(cfg)
    _, _, log_ratio, _ = learner.losses(batch)
    ratio = log_ratio.exp()
    assert ratio.shape == (batch["obs"].shape[0], cfg.n_mc if cfg.ratio == "per_sample" and
                           cfg.policy == "flow" else 1)
    assert (ratio - 1).abs().max() < 1e-6

    params = list(learner.policy.parameters())

    def grad_of(objective) -> list[torch.Tensor]:
        r = learner.policy.log_ratio(batch["obs"], batch["actions"], batch)[0].exp()
        return torch.autograd.grad(-objective(r, batch["advantages"][:, None]).mean(), params)

    unclipped = grad_of(lambda r, a: r * a)
    for name, objective in (("clip", clip_objective), ("asymmetric", asymmetric_objective)):
        clipped = grad_of(lambda r, a, objective=objective: objective(r, a, cfg.clip))
        for g, u in zip(clipped, unclipped):
            torch.testing.assert_close(g, u, rtol=1e-5, atol=1e-8, msg=name)


class Scaled(torch.nn.Module):
    """A velocity net expressed at `scale` times the noise: v_s(o, x, τ) = scale · v(o, x / scale, τ)."""

    def __init__(self, net: torch.nn.Module, scale: float):
        super().__init__()
        self.net, self.scale = net, scale

    def obs_in(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.obs_in(obs)

    def velocity(self, features: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return self.scale * self.net.velocity(features, x / self.scale, tau)

    def forward(self, obs: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return self.velocity(self.obs_in(obs), x, tau)


@pytest.mark.parametrize("ratio", ["per_sample", "per_action"])
def test_ratio_does_not_depend_on_the_noise_scale(ratio: str) -> None:
    """One policy expressed at σ = 1 and at σ = 0.1 (actions, noise and velocities scaled by 0.1)
    samples the same actions and, after a weight change, gives the same ratios (clamps included)."""
    torch.manual_seed(0)
    b, s, o, a = 64, 8, 5, 3
    cfg = replace(FPO_PP, ratio=ratio, n_mc=s, loss_clamp=2.5, log_ratio_clamp=0.1)
    old = FlowPolicy(o, a, replace(cfg, noise_std=1.0))
    new = FlowPolicy(o, a, replace(cfg, noise_std=1.0))
    with torch.no_grad():  # a policy with a real velocity field, then a change to it
        for p_old, p_new in zip(old.parameters(), new.parameters()):
            p_old.normal_(0, 0.1)
            p_new.copy_(p_old + 0.01 * torch.randn_like(p_old))
    obs, x0 = torch.randn(b, o), torch.randn(b, a)
    tau, eps = torch.rand(b, s), torch.randn(b, s, a)

    ratios, actions, losses = [], [], []
    for sigma in (1.0, 0.1):
        pair = []
        for unit in (old, new):
            policy = FlowPolicy(o, a, replace(cfg, noise_std=sigma))
            policy.net = Scaled(unit.net, sigma)
            pair.append(policy)
        with torch.no_grad():
            action, noise = pair[0].sample(obs, sigma * x0), sigma * eps
            stored = {"tau": tau, "eps": noise, "cfm_loss": pair[0].cfm(obs, action, tau, noise)[0]}
            ratios.append(pair[1].log_ratio(obs, action, stored)[0].exp())
            actions.append(action / sigma)
            losses.append(stored["cfm_loss"])
    torch.testing.assert_close(actions[1], actions[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ratios[1], ratios[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-5)
    assert (ratios[0] - 1).abs().mean() > 0.01  # the change is large enough to show
    if ratio == "per_sample":  # both clamps act
        assert torch.isclose(ratios[0], torch.tensor(0.1).exp()).any() and (losses[0] > cfg.loss_clamp).any()


def test_ratio_modes_and_trust_regions_differ_where_they_should() -> None:
    loss_old = torch.tensor([[0.2, 0.4, 5.0, 6.0]])
    loss_new = torch.tensor([[0.1, 0.6, 4.0, 9.0]])
    per_sample = per_sample_log_ratio(loss_old, loss_new, loss_clamp=3.0, log_ratio_clamp=0.05)
    # per sample: 0.1 clamped to δ = 0.05, −0.2, and 0 where both losses exceed the clamp c = 3
    torch.testing.assert_close(per_sample, torch.tensor([[0.05, -0.2, 0.0, 0.0]]))
    per_action = per_action_log_ratio(loss_old, loss_new)
    torch.testing.assert_close(per_action, torch.tensor([[(11.6 - 13.7) / 4]]))

    ratio = torch.tensor([[0.5, 0.98, 1.02, 1.5]])
    pos, neg = torch.ones(1, 1), -torch.ones(1, 1)
    # A > 0: identical (PPO clip in both)
    torch.testing.assert_close(clip_objective(ratio, pos, 0.05), asymmetric_objective(ratio, pos, 0.05))
    # A < 0: PPO clip flattens outside [0.95, 1.05] (no gradient), the SPO penalty keeps pulling back
    r = ratio.clone().requires_grad_(True)
    clip_objective(r, neg, 0.05).sum().backward()
    assert r.grad[0, 0] == 0 and r.grad[0, 1] == -1
    r.grad = None
    asymmetric_objective(r, neg, 0.05).sum().backward()
    torch.testing.assert_close(r.grad, -1 - (ratio - 1) / 0.05)


def test_per_sample_and_per_action_ratios_after_an_update() -> None:
    """Same rollout and weights change: the two modes give different ratios (per sample spread
    around the per-action one) and both move away from 1."""
    learner, batch = rollout_batch(FPO_PP)
    learner.policy.net.obs_in.weight.data += 0.05 * torch.randn_like(learner.policy.net.obs_in.weight)
    per_sample = learner.policy.log_ratio(batch["obs"], batch["actions"], batch)[0]
    learner.policy.ratio = per_action_log_ratio
    per_action = learner.policy.log_ratio(batch["obs"], batch["actions"], batch)[0]
    assert per_sample.shape[1] == FPO_PP.n_mc and per_action.shape[1] == 1
    assert per_sample.std(1).mean() > 1e-4
    assert (per_sample.mean(1, keepdim=True) - per_action).abs().max() < 5 * per_sample.std()
    assert per_action.abs().mean() > 1e-4


# --- learning -----------------------------------------------------------------------------------

def test_bandit_fpo_covers_both_modes_gaussian_does_not() -> None:
    """Reward with equal optima at ±0.7 (width 0.2). After 100 updates of 1024 one-step episodes,
    FPO++ (per-sample ratio, asymmetric trust region) samples both modes, ≥ 25 % each; the
    Gaussian baseline, at the same budget, has collapsed onto one (< 10 % in the other)."""
    wide = NetConfig((128, 128))
    fpo = replace(FPO_PP, actor=wide, lr=1e-3, flow_steps=10)
    ppo = replace(PPO, actor=wide, lr=1e-3, init_std=1.0)
    fractions = {}
    for name, cfg in (("fpo", fpo), ("ppo", ppo)):
        env = Bandit(1024, mode=0.7, width=0.2)
        learner, returns = train(cfg, env, iterations=100, steps=1)
        with torch.no_grad():
            a = learner.policy.act(learner.obs_norm(torch.ones(4096, 1)))[0][:, 0]
        fractions[name] = ((a > 0.35).float().mean().item(), (a < -0.35).float().mean().item(), returns[-1])
    (fpo_pos, fpo_neg, fpo_return), (ppo_pos, ppo_neg, _) = fractions["fpo"], fractions["ppo"]
    assert min(fpo_pos, fpo_neg) > 0.25 and fpo_return > 0.7, fractions
    assert min(ppo_pos, ppo_neg) < 0.1, fractions


def test_point_mass_return_improves() -> None:
    """FPO++ on a 2-D point mass reaching random goals: the mean episode return (−distance summed
    over 40 steps; about −50 for the initial policy) at least halves its gap within 30 updates."""
    _, returns = train(replace(FPO_PP, lr=1e-3, clip=0.2), PointMass(64), iterations=30, steps=40)
    first, last = returns[0], sum(returns[-3:]) / 3
    assert first < -35 and last > first / 2, returns


@pytest.mark.parametrize("cfg", [FPO_PP, PPO], ids=["flow", "gaussian"])
def test_a_zero_out_gain_actor_starts_at_its_action_base_and_learns_away(cfg: AlgoConfig) -> None:
    """algo.out_gain=0 (a residual policy's start): the untrained deterministic action is exactly 0,
    rollouts still explore, and updates move it."""
    env, obs = PointMass(32), torch.randn(8, PointMass.obs_size)
    untrained, _ = train(replace(cfg, out_gain=0.0), env, iterations=0, steps=16)
    assert torch.equal(untrained.eval_action(obs), torch.zeros(8, env.action_size))
    assert untrained.act(obs, obs)[0].abs().min() > 0
    trained, _ = train(replace(cfg, out_gain=0.0), env, iterations=3, steps=16)
    assert trained.eval_action(obs).abs().max() > 1e-3


@pytest.mark.parametrize("cfg", [FPO_PP, replace(PPO, adaptive_lr=True)], ids=["flow", "gaussian"])
def test_an_update_with_the_actor_held_trains_the_critic_only(cfg: AlgoConfig) -> None:
    """After a motion prior the critic learns first: the policy and lr stay, the critic moves."""
    torch.manual_seed(0)
    env = PointMass(32)
    learner = Learner(cfg, env.obs_size, env.critic_obs_size, env.action_size)
    storage = RolloutStorage(16)
    last = collect(learner, env, storage, EpisodeTracker(env.num_envs, torch.device("cpu")))
    policy = [p.clone() for p in learner.policy.parameters()]
    critic = [p.clone() for p in learner.critic.parameters()]
    lr = learner.lr
    learner.update(storage, last, actor=False)
    assert all(torch.equal(a, b) for a, b in zip(policy, learner.policy.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(critic, learner.critic.parameters()))
    assert learner.lr == lr


@pytest.mark.parametrize("cfg", [FPO_PP, PPO], ids=["flow", "gaussian"])
def test_a_diverged_update_stops_before_it_reaches_the_weights(cfg: AlgoConfig) -> None:
    """A non-finite loss (here a NaN reward) stops the update with an error naming it, the weights
    as they were."""
    torch.manual_seed(0)
    env = PointMass(32)
    learner = Learner(cfg, env.obs_size, env.critic_obs_size, env.action_size)
    storage = RolloutStorage(16)
    last = collect(learner, env, storage, EpisodeTracker(env.num_envs, torch.device("cpu")))
    storage["rewards"][3, 5] = float("nan")
    weights = [p.clone() for p in learner.parameters()]
    with pytest.raises(FloatingPointError, match="the update diverged: policy loss nan"):
        learner.update(storage, last)
    assert all(torch.equal(a, b) for a, b in zip(weights, learner.parameters()))


def test_the_loss_entry_names_a_misshapen_minibatch() -> None:
    """Advantages (B, 1) instead of (B,) would broadcast against (B, S) ratios into (B, B, S)."""
    learner, batch = rollout_batch(AlgoConfig())
    with pytest.raises(ValueError, match=r"minibatch advantages must have shape \(\d+,\), got \(\d+, 1\)"):
        learner.losses({**batch, "advantages": batch["advantages"][:, None]})
    with pytest.raises(ValueError, match=r"minibatch actions must have shape \(\d+, \d+\)"):
        learner.losses({**batch, "actions": batch["actions"][:, :-1]})


@pytest.mark.parametrize("cfg", [FPO_PP, PPO], ids=["flow", "gaussian"])
def test_a_bf16_update_follows_the_fp32_one(cfg: AlgoConfig) -> None:
    """algo.precision=bf16 against fp32 on the same rollout (collected in each precision from the same
    weights and seed): the first minibatch's ratio is 1 in both (stored losses and update in one
    precision), the losses agree within 3 %, and one update moves the weights the same way."""
    import copy

    learners, batches = {}, {}
    for precision in ("fp32", "bf16"):
        learners[precision], batches[precision] = rollout_batch(replace(cfg, precision=precision))
    for precision, learner in learners.items():
        policy_loss, value_loss, log_ratio, _ = learner.losses(batches[precision])
        assert log_ratio.abs().max() < 1e-6, precision
    fp32, bf16 = learners["fp32"], copy.deepcopy(learners["fp32"])
    bf16.cfg, bf16.precision = replace(cfg, precision="bf16"), "bf16"
    batch = batches["fp32"]
    (p32, v32, _, _), (p16, v16, r16, _) = fp32.losses(batch), bf16.losses(batch)
    assert not torch.equal(v16, v32) and r16.abs().max() > 1e-6, "bf16 computed something else"
    torch.testing.assert_close(v16, v32, rtol=0.03, atol=1e-3)
    torch.testing.assert_close(p16, p32, rtol=0.03, atol=0.03)
    before = torch.cat([p.detach().flatten() for p in fp32.parameters()])
    for learner, (policy_loss, value_loss) in ((fp32, (p32, v32)), (bf16, (p16, v16))):
        learner.optimizer.zero_grad()
        (policy_loss + value_loss).backward()
        learner.optimizer.step()
    moves = [torch.cat([p.detach().flatten() for p in learner.parameters()]) - before
             for learner in (fp32, bf16)]
    assert torch.nn.functional.cosine_similarity(*moves, dim=0) > 0.9


def test_auto_precision_is_bf16_for_the_flow_on_a_cpu_that_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """algo.precision=auto: bf16 for the flow where the CPU has AVX512-BF16 or AMX, fp32 for the
    Gaussian, on other CPUs and on CUDA; a set precision is kept as it is."""
    from humanoid_fpo.learn.learner import resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for avx512_bf16, amx, expected in ((True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert resolve_precision("auto", cpu, "flow") == expected, (avx512_bf16, amx)
        assert resolve_precision("auto", cpu, "gaussian") == "fp32"
        assert resolve_precision("auto", cuda, "flow") == "fp32"
        assert resolve_precision("fp32", cpu, "flow") == "fp32"
        assert resolve_precision("bf16", cpu, "gaussian") == "bf16"
        assert Learner(replace(FPO_PP, precision="auto"), 8, 8, 4).precision == expected
        assert Learner(replace(PPO, precision="auto"), 8, 8, 4).precision == "fp32"
