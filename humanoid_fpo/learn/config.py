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
    """Defaults: FPO++ (configs/algo/fpo_pp.yaml), with the trust region measured on the CPU preset."""

    policy: str = "flow"
    """flow (FPO) or gaussian (the PPO baseline): the only difference between an FPO and a PPO run."""
    actor: NetConfig = field(default_factory=NetConfig)
    critic: NetConfig = field(default_factory=NetConfig)
    # --- flow policy
    flow_steps: int = 10
    """K Euler steps from x0 to the action."""
    noise_std: float = 0.05
    """σ of the source noise x0 and ε ~ N(0, σ²I): the spread of the untrained policy's actions, in
    normalised action units (half joint ranges; PHC's fixed std is 0.055). CFM losses, ratios and
    their clamps are measured in units of σ, so they do not depend on it."""
    tau_embed: int = 16
    """Sinusoidal features of the flow time τ fed to the velocity net."""
    n_mc: int = 16
    """(τ, ε) pairs per action for the CFM losses of the ratio."""
    ratio: str = "per_sample"
    """per_sample: one ratio per (τ, ε) pair (FPO++); per_action: exp of the mean loss change (FPO)."""
    loss_clamp: float | None = 3.0
    """c: CFM losses (noise units, mean over action dimensions) are clamped at c before they enter
    a per-sample ratio."""
    log_ratio_clamp: float | None = 3.0
    """δ: upper clamp of a per-sample log-ratio."""
    # --- gaussian policy
    init_std: float = 0.05
    """Initial std of the Gaussian (normalised action units); learned, state-independent."""
    min_std: float = 0.05
    """Floor of the learned std."""
    # --- PPO machinery shared by both
    trust_region: str = "asymmetric"
    """clip: PPO clip; asymmetric: PPO clip for A > 0, the SPO penalty for A <= 0."""
    clip: float = 0.05
    """ε: a ratio outside [1 − ε, 1 + ε] is clipped. FPO++ uses 0.01 (with lr_target 1e-4) over thousands
    of GPU iterations; in 60-iteration CPU-preset runs that moved the policy too little to learn."""
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
    adaptive_lr: bool = True
    """Scale lr by 1.5 to keep the policy's change since the rollout near lr_target (rsl_rl's rule)."""
    lr_target: float = 1e-3
    """Flow: mean squared change of the predicted clean action, in noise units; Gaussian: KL."""
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
