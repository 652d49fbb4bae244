"""Typed learner configs: the networks and the algorithm (FPO, FPO++ or Gaussian PPO)."""

from __future__ import annotations

from dataclasses import dataclass, field

POLICIES = ("flow", "gaussian")
RATIOS = ("per_sample", "per_action")
TRUST_REGIONS = ("clip", "asymmetric")
ACTIVATIONS = ("elu", "relu", "silu", "gelu", "tanh")
OPTIMIZERS = ("adam", "adamw")


@dataclass(frozen=True)
class NetConfig:
    hidden: tuple[int, ...] = (512, 256, 256)
    activation: str = "elu"


@dataclass(frozen=True)
class AlgoConfig:
    policy: str = "flow"
    """flow (FPO) or gaussian (the PPO baseline): the only difference between an FPO and a PPO run."""
    actor: NetConfig = field(default_factory=NetConfig)
    critic: NetConfig = field(default_factory=NetConfig)
    # --- flow policy
    flow_steps: int = 10
    """K Euler steps from x0 to the action."""
    noise_std: float = 1.0
    """σ of the source noise x0 and ε ~ N(0, σ²I): the spread of the untrained policy's actions
    (the design's N(0, I) is σ = 1; a humanoid whose actions span the joint ranges wants ~0.1)."""
    tau_embed: int = 16
    """Sinusoidal features of the flow time τ fed to the velocity net."""
    n_mc: int = 8
    """(τ, ε) pairs per action for the CFM losses of the ratio."""
    ratio: str = "per_sample"
    """per_sample: one ratio per (τ, ε) pair (FPO++); per_action: exp of the mean loss change (FPO)."""
    loss_clamp: float | None = 3.0
    """c: CFM losses are clamped at c before they enter a per-sample ratio."""
    log_ratio_clamp: float | None = 3.0
    """δ: upper clamp of a per-sample log-ratio."""
    # --- gaussian policy
    init_std: float = 0.5
    min_std: float = 0.02
    # --- PPO machinery shared by both
    trust_region: str = "clip"
    """clip: PPO clip; asymmetric: PPO clip for A > 0, the SPO penalty for A <= 0."""
    clip: float = 0.05
    gamma: float = 0.99
    lam: float = 0.95
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-4
    optimizer: str = "adam"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    value_coef: float = 1.0
    advantage_clamp: float | None = 5.0
    """Normalised advantages are clamped to ±this."""
    adaptive_lr: bool = False
    """Scale lr by 1.5 so that one optimiser step changes the policy by about lr_target."""
    lr_target: float = 1e-4
    """Flow: mean squared change of the predicted clean action; Gaussian: KL."""
    lr_bounds: tuple[float, float] = (1e-5, 1e-2)
    ema: float | None = 0.95
    """Decay of the policy's weight average used for evaluation and export; None: the live weights."""


def check_algo(cfg: AlgoConfig) -> None:
    """Raise ValueError naming the first setting that is not one of its choices."""
    for name, value, choices in (("policy", cfg.policy, POLICIES), ("ratio", cfg.ratio, RATIOS),
                                 ("trust_region", cfg.trust_region, TRUST_REGIONS),
                                 ("optimizer", cfg.optimizer, OPTIMIZERS),
                                 ("actor.activation", cfg.actor.activation, ACTIVATIONS),
                                 ("critic.activation", cfg.critic.activation, ACTIVATIONS)):
        if value not in choices:
            raise ValueError(f"algo.{name}: unknown {value!r}; choose from {', '.join(choices)}")
    for name in ("flow_steps", "n_mc", "epochs", "minibatches"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"algo.{name} must be at least 1, got {getattr(cfg, name)}")
