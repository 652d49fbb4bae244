"""Typed learner configs: the networks and the algorithm (FPO, FPO++ or Gaussian PPO)."""

from __future__ import annotations

from dataclasses import dataclass, field

from humanoid_fpo.util.typed_config import check_ranges

POLICIES = ("flow", "gaussian")
RATIOS = ("per_sample", "per_action")
TRUST_REGIONS = ("clip", "asymmetric")
ACTIVATIONS = ("elu", "relu", "silu", "gelu", "tanh")
OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("fp32", "bf16", "auto")
MAX_FLOW_STEPS = 256
"""Most Euler steps a sampler takes: each is one pass of the velocity net per action (and one
unrolled copy of it in policy.onnx); runs train and evaluate with 10, and past a few hundred an
evaluation runs for hours and an export grows by gigabytes while the action no longer changes."""


def check_flow_steps(key: str, steps: int | None) -> None:
    """Raise ValueError naming `key` unless `steps` (None: unset) lies in 1..MAX_FLOW_STEPS."""
    if steps is not None and not 1 <= steps <= MAX_FLOW_STEPS:
        raise ValueError(f"{key} must be 1 to {MAX_FLOW_STEPS} Euler steps (each is a pass of the velocity "
                         f"net per action), got {steps}")


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
    out_gain: float = 0.01
    """Scale of the actor's last-layer init. 0: the untrained actor outputs exactly its action offset
    at x0 = 0."""
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
    symmetry: bool = False
    """Learn each transition also left–right mirrored (learn/symmetry.py): twice the update's work."""
    ema: float | None = 0.95
    """Decay of the policy's weight average used for evaluation and export; None: the live weights."""
    precision: str = "fp32"
    """bf16: the networks' matrix products in the rollout and the update run in bfloat16 under
    torch.autocast (CPUs with AVX512-BF16 or AMX, recent GPUs); losses, ratios, optimiser state and
    evaluation stay fp32. The rollout's stored CFM losses use the same precision as the update's,
    so the first minibatch's ratio is still 1. auto: bf16 for the flow policy on a CPU with
    AVX512-BF16 or AMX, fp32 for the Gaussian (bf16 measured not to pay for PPO) and elsewhere
    (CUDA's fp32 matmuls run in TF32; bf16 there is not measured)."""


def check_algo(cfg: AlgoConfig) -> None:
    """Raise ValueError naming the first setting that is not one of its choices or out of its range."""
    for name, value, choices in (("policy", cfg.policy, POLICIES), ("ratio", cfg.ratio, RATIOS),
                                 ("trust_region", cfg.trust_region, TRUST_REGIONS),
                                 ("optimizer", cfg.optimizer, OPTIMIZERS),
                                 ("precision", cfg.precision, PRECISIONS),
                                 ("actor.activation", cfg.actor.activation, ACTIVATIONS),
                                 ("critic.activation", cfg.critic.activation, ACTIVATIONS)):
        if value not in choices:
            raise ValueError(f"algo.{name}: unknown {value!r}; choose from {', '.join(choices)}")
    check_flow_steps("algo.flow_steps", cfg.flow_steps)
    check_ranges(cfg, "algo.", {
        "actor.hidden": "positive", "critic.hidden": "positive", "out_gain": "non-negative",
        "noise_std": "positive", "tau_embed": "positive", "n_mc": "positive", "loss_clamp": "positive",
        "log_ratio_clamp": "positive", "init_std": "positive", "min_std": "positive", "clip": "in (0, 1)",
        "gamma": "in (0, 1]", "lam": "in [0, 1]", "epochs": "positive", "minibatches": "positive",
        "lr": "positive", "weight_decay": "non-negative", "max_grad_norm": "positive",
        "value_coef": "non-negative", "advantage_clamp": "positive", "lr_target": "positive",
        "lr_bounds": "positive", "ema": "in [0, 1)"})
    if cfg.lr_bounds[0] > cfg.lr_bounds[1]:
        raise ValueError(f"algo.lr_bounds must be (lowest, highest), got {list(cfg.lr_bounds)}")


@dataclass(frozen=True)
class PriorConfig:
    steps: int = 0
    """Supervised steps of each fit: the first and one per DAgger round (0: no prior)."""
    batch: int = 512
    lr: float = 1e-3
    action_noise: float = 0.0
    """Std (normalised action units) of noise added to the targets at every step. A flow fitted to
    noiseless targets collapses to one action per state and leaves RL nothing to explore with;
    algo.noise_std keeps an untrained flow's spread."""
    copies: int = 4
    """States per reference frame: the reference itself and copies - 1 perturbed ones."""
    pool: int = 65536
    """Most samples observed at once: a dataset (frames × copies × goal modes) this size or smaller is observed whole; a larger one is fitted on this many samples drawn
    afresh for every pass, so that the prior's memory does not grow with the library."""
    joint_noise: float = 0.1
    """rad, std of the joint-angle perturbation."""
    root_noise: float = 0.02
    """m and rad, std of the root position and orientation perturbation."""
    velocity_noise: float = 0.3
    """m/s and rad/s, std of the velocity perturbation."""
    dagger_rounds: int = 0
    """Rounds of relabelling after the first fit: the actor plays the training env (actions sampled
    as in rollouts, restarts as in training) for dagger_steps control steps; the states it reaches,
    labelled with the reference's next frame, join the data and the fit goes on."""
    dagger_steps: int = 64
    critic_iterations: int = 0
    """RL iterations at the start (after the prior, if any) in which only the critic learns, so that a
    random critic's advantages do not undo a good start (the prior)."""


def check_prior(cfg: PriorConfig) -> None:
    check_ranges(cfg, "prior.", {
        "steps": "non-negative", "batch": "positive", "lr": "positive", "action_noise": "non-negative",
        "copies": "positive", "pool": "positive", "joint_noise": "non-negative", "root_noise": "non-negative",
        "velocity_noise": "non-negative", "dagger_rounds": "non-negative", "dagger_steps": "positive",
        "critic_iterations": "non-negative"})
