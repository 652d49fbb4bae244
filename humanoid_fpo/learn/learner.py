"""The on-policy learner: policy (flow or Gaussian), critic, observation normalisers, optimiser,
EMA weights, and the PPO-style update with FPO ratios. It sees torch tensors only.

    learner = Learner(cfg, obs_size, critic_obs_size, action_size)
    action, record = learner.act(obs, critic_obs)            # during the rollout
    storage.add(**record, rewards=..., dones=...)
    metrics = learner.update(storage, learner.value(critic_obs))

`learner.behind()` acts with a copy of the weights, so that a rollout can be collected on another
thread while `update` moves them (run/train.py's `overlap`).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from humanoid_fpo.learn import distributed
from humanoid_fpo.learn.config import AlgoConfig, check_algo
from humanoid_fpo.learn.flow import FlowPolicy
from humanoid_fpo.learn.gae import compute_gae
from humanoid_fpo.learn.gaussian import GaussianPolicy
from humanoid_fpo.learn.losses import TRUST_REGIONS
from humanoid_fpo.learn.networks import mlp
from humanoid_fpo.learn.normalizer import Normalizer
from humanoid_fpo.learn.storage import RolloutStorage
from humanoid_fpo.learn.symmetry import Mirror
from humanoid_fpo.util.shapes import check_shape

POLICY_CLASSES = {"flow": FlowPolicy, "gaussian": GaussianPolicy}
MIRRORED = "mirror/"
"""Prefix of a record's mirrored transition (symmetry augmentation); what it lacks it shares."""


def resolve_precision(precision: str, device: torch.device, policy: str) -> str:
    """algo.precision as run: auto is bf16 for the flow policy on a CPU with AVX512-BF16 or AMX (its
    update measured 1.65x fp32's, and FPO++ learned as much per minute), fp32 for the Gaussian (PPO's
    cheap update gained 12 % of its time and tracked 1.6-4 frames less at equal minutes), on other
    CPUs and on CUDA (TF32 there). BENCHMARKS.md, "Learning per env step and per minute"."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and any(cpu_bf16().values()) and policy == "flow" else "fp32"


def cpu_bf16() -> dict[str, bool]:
    """Whether this CPU has each feature that makes bf16 matrix products pay: AVX512-BF16, AMX."""
    return {"AVX512-BF16": torch.cpu._is_avx512_bf16_supported(), "AMX": torch.cpu._is_amx_tile_supported()}


class Learner:
    def __init__(self, cfg: AlgoConfig, obs_size: int, critic_obs_size: int, action_size: int,
                 device: str | torch.device = "cpu", mirror: Mirror | None = None):
        """`mirror`: each transition is also learned mirrored (learn/symmetry.py), and the
        normalisers see both."""
        check_algo(cfg)
        self.cfg, self.device, self.action_size = cfg, torch.device(device), action_size
        self.mirror = mirror
        if self.device.type == "cuda":  # TF32 matmuls: ~3x the fp32 throughput of an A100/H100's GEMMs
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.precision = resolve_precision(cfg.precision, self.device, cfg.policy)
        self.policy = POLICY_CLASSES[cfg.policy](obs_size, action_size, cfg).to(self.device)
        self.critic = mlp(critic_obs_size, cfg.critic, 1).to(self.device)
        self.obs_norm = Normalizer(obs_size).to(self.device)
        self.critic_norm = Normalizer(critic_obs_size).to(self.device)
        self.ema = copy.deepcopy(self.policy).requires_grad_(False) if cfg.ema is not None else None
        optimizer = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optimizer(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.trust_region = TRUST_REGIONS[cfg.trust_region]
        self.diagnostics_rng = torch.Generator(self.device).manual_seed(0)
        self._behind: Learner | None = None

    def parameters(self) -> list[nn.Parameter]:
        """What the optimiser moves: the policy's and the critic's."""
        return [*self.policy.parameters(), *self.critic.parameters()]

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor the ranks must agree on: weights, EMA weights, normaliser statistics."""
        modules = [self.policy, self.critic, self.obs_norm, self.critic_norm]
        modules += [self.ema] if self.ema is not None else []
        return [t for m in modules for t in (*m.parameters(), *m.buffers())]

    def behind(self) -> Learner:
        """A learner that acts (`act`, `value`) with a copy of this one's weights as they are now, and
        with its normalisers, which its `act` updates: what a rollout collected while this learner
        updates acts with. One copy, refreshed at every call."""
        if self._behind is None:
            behind = self._behind = copy.copy(self)
            behind.policy, behind.critic = copy.deepcopy(self.policy), copy.deepcopy(self.critic)
        self._behind.policy.load_state_dict(self.policy.state_dict())
        self._behind.critic.load_state_dict(self.critic.state_dict())
        return self._behind

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def eval_policy(self) -> nn.Module:
        """The EMA weights where kept (evaluation and export), else the live policy."""
        return self.ema if self.ema is not None else self.policy

    @torch.no_grad()
    def act(self, obs: torch.Tensor, critic_obs: torch.Tensor,
            update_normalizers: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sample actions (N, A) for raw observations (N, O); the record holds the normalised
        observations, the action, the value and the policy's stored quantities, exactly as the
        update will read them."""
        seen = (obs, critic_obs)
        if self.mirror is not None:  # both halves: the normalisers stay symmetric
            seen = (torch.cat([obs, self.mirror.obs(obs)]),
                    torch.cat([critic_obs, self.mirror.critic_obs(critic_obs)]))
        obs_n, critic_n = self.obs_norm(seen[0]), self.critic_norm(seen[1])
        if update_normalizers:
            self.obs_norm.update(seen[0])
            self.critic_norm.update(seen[1])
        n = obs.shape[0]
        with self._autocast():
            action, stored = self.policy.act(obs_n[:n])
            values = self.critic(critic_n[:n])[:, 0].float()
        record = {"obs": obs_n[:n], "critic_obs": critic_n[:n], "actions": action, "values": values, **stored}
        if self.mirror is not None:
            record |= self._mirrored(obs_n[n:], critic_n[n:], action, stored)
        return action, record

    def _mirrored(self, obs_n: torch.Tensor, critic_n: torch.Tensor, action: torch.Tensor,
                  stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mirrored transition's record (MIRRORED keys) at its normalised observations (N, O):
        the mirrored action, noise, and what the acting weights store of them."""
        mirrored = {"obs": obs_n, "critic_obs": critic_n, "actions": self.mirror.action(action)}
        if "eps" in stored:
            mirrored["eps"] = self.mirror.noise(stored["eps"])
        with self._autocast():
            mirrored |= self.policy.score(obs_n, mirrored["actions"], stored | mirrored)
        return {MIRRORED + k: v for k, v in mirrored.items()}

    @torch.no_grad()
    def value(self, critic_obs: torch.Tensor) -> torch.Tensor:
        """(N, O) raw → (N,) values (for bootstrapping the last step of a rollout)."""
        return self.critic(self.critic_norm(critic_obs))[:, 0]

    @torch.no_grad()
    def eval_action(self, obs: torch.Tensor, steps: int | None = None,
                    random_x0: bool = False) -> torch.Tensor:
        """Evaluation actions (N, A) of the EMA policy for raw observations (N, O): the sampler in
        `steps` Euler steps from x0 = 0, or from x0 drawn as in rollouts."""
        policy, n = self.eval_policy, obs.shape[0]
        x0 = (policy.initial_noise(n, obs.device) if random_x0 else
              torch.zeros(n, self.action_size, device=obs.device))
        return policy.sample(self.obs_norm(obs), x0, steps)

    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                               torch.Tensor]:
        """Policy loss, value loss, the log-ratios (B, S) of one minibatch, and the policy's probe
        (predicted clean actions or mean and std) at the minibatch."""
        b = batch["obs"].shape[0]
        for name, shape in (("obs", (b, None)), ("critic_obs", (b, None)), ("actions", (b, self.action_size)),
                            ("advantages", (b,)), ("returns", (b,))):
            check_shape(f"minibatch {name}", batch[name], shape)
        with self._autocast():
            log_ratio, probe = self.policy.log_ratio(batch["obs"], batch["actions"], batch)
            values = self.critic(batch["critic_obs"])[:, 0].float()
        check_shape("log-ratios", log_ratio, (b, None))
        policy_loss = -self.trust_region(log_ratio.exp(), batch["advantages"][:, None], self.cfg.clip).mean()
        value_loss = (values - batch["returns"]).square().mean()
        return policy_loss, value_loss, log_ratio, probe

    def _autocast(self) -> torch.autocast:
        """bfloat16 matrix products where the precision is bf16 (a no-op context otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def update(self, storage: RolloutStorage, last_values: torch.Tensor, actor: bool = True,
               shuffle: torch.Generator | None = None) -> dict[str, float]:
        """GAE, then epochs × minibatches of clipped-objective steps; returns mean metrics. With
        `actor` False only the critic learns (after a motion prior, before the actor may move).
        `shuffle` draws the minibatches (default: torch's global generator).

        Before each step the policy's change since the rollout is measured on the minibatch:
        `divergence` (flow: mean squared change of the predicted clean action, in noise units;
        Gaussian: KL) and `approx_kl` (the ratio's k3 estimate, E[r − 1 − log r]). With
        adaptive_lr, lr follows rsl_rl's rule on the divergence."""
        cfg = self.cfg
        advantages, returns = compute_gae(storage["rewards"], storage["values"], storage["dones"],
                                          last_values, cfg.gamma, cfg.lam)
        n, mean, var = distributed.moments(advantages.flatten())  # over every rank's rollout
        normalised = (advantages - mean) / ((var * n / (n - 1)).sqrt() + 1e-8)
        if cfg.advantage_clamp is not None:
            normalised = normalised.clamp(-cfg.advantage_clamp, cfg.advantage_clamp)
        sums: dict[str, float] = {}
        count = 0
        for batch in storage.minibatches(cfg.minibatches, cfg.epochs, {"advantages": normalised,
                                                                         "returns": returns}, shuffle):
            if self.mirror is not None:
                batch = with_mirrored(batch)
            policy_loss, value_loss, log_ratio, probe = self.losses(batch)
            with torch.no_grad():
                ratio = log_ratio.exp()
                divergence = distributed.mean(self.policy.divergence(batch["probe"], probe)).item()
                step_metrics = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                                "ratio_mean": ratio.mean().item(),
                                "clip_fraction": ((ratio - 1).abs() > cfg.clip).float().mean().item(),
                                "approx_kl": (ratio - 1 - log_ratio).mean().item(), "divergence": divergence}
            if not math.isfinite(step_metrics["policy_loss"] + step_metrics["value_loss"]):
                raise FloatingPointError(
                    f"the update diverged: policy loss {step_metrics['policy_loss']:.3g}, value loss "
                    f"{step_metrics['value_loss']:.3g}, ratio mean {step_metrics['ratio_mean']:.3g} at lr "
                    f"{self.lr:.2g}; stopped before a non-finite step reached the weights")
            if count == 0:
                sums["ratio_error_first"] = (ratio - 1).abs().max().item()
            if cfg.adaptive_lr and actor:
                self._adapt_lr(divergence)
            self.optimizer.zero_grad(set_to_none=True)
            (cfg.value_coef * value_loss + (policy_loss if actor else 0.0)).backward()
            distributed.average_gradients(self.parameters())
            step_metrics["grad_norm"] = nn.utils.clip_grad_norm_(self.parameters(), cfg.max_grad_norm).item()
            self.optimizer.step()
            for k, v in step_metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
        self._update_ema()
        metrics = {k: (v if k == "ratio_error_first" else v / count) for k, v in sums.items()}
        explained = 1 - (returns - storage["values"]).var() / (returns.var() + 1e-8)
        return metrics | {"explained_variance": explained.item(), "lr": self.lr,
                          "action_spread": self.action_spread(storage["obs"].flatten(0, 1))}

    @torch.no_grad()
    def action_spread(self, obs: torch.Tensor, states: int = 256, samples: int = 8) -> float:
        """How much the live policy explores: the std over `samples` actions drawn (random x0) at
        each of up to `states` of the normalised observations (B, O), averaged over states and
        action dimensions (normalised action units). Its own generator leaves training's RNG alone."""
        obs = obs[::max(1, obs.shape[0] // states)][:states].repeat_interleave(samples, 0)
        x0 = self.policy.initial_noise(obs.shape[0], obs.device, self.diagnostics_rng)
        actions = self.policy.sample(obs, x0)
        return actions.view(-1, samples, self.action_size).std(1).mean().item()

    def _adapt_lr(self, divergence: float) -> None:
        """rsl_rl's rule: shrink lr by 1.5 when the policy has moved more than 2× lr_target since the
        rollout, grow it when by less than half (and at all: the first minibatch has not moved)."""
        low, high = self.cfg.lr_bounds
        lr = self.lr
        if divergence > 2 * self.cfg.lr_target:
            lr = max(low, lr / 1.5)
        elif 0 < divergence < self.cfg.lr_target / 2:
            lr = min(high, lr * 1.5)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is not None:
            for average, live in zip(self.ema.parameters(), self.policy.parameters()):
                average.lerp_(live, 1 - self.cfg.ema)

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "critic": self.critic.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "obs_norm": self.obs_norm.state_dict(), "critic_norm": self.critic_norm.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"] if state["ema"] is not None else state["policy"])
        self.obs_norm.load_state_dict(state["obs_norm"])
        self.critic_norm.load_state_dict(state["critic_norm"])
        self.optimizer.load_state_dict(state["optimizer"])


def with_mirrored(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A minibatch (B, ...) with its mirrored transitions appended (2B, ...): each MIRRORED key's
    tensor after its own key's, the shared ones (advantages, returns, tau) repeated."""
    own = {k: v for k, v in batch.items() if not k.startswith(MIRRORED)}
    return {k: torch.cat([v, batch.get(MIRRORED + k, v)]) for k, v in own.items()}
