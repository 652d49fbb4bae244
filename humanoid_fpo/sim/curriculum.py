"""Curricula from episode outcomes: clips that fail are drawn more often, envs that finish move up a
terrain level and envs that fail move down, and training's termination distance tightens as
episodes lengthen."""

from __future__ import annotations

import math
import jax
import jax.numpy as jnp

from humanoid_fpo.sim.config import TerminationCurriculum


def next_termination_distance(curriculum: TerminationCurriculum, distance: float, final: float,
                              episode_length: float) -> float:
    """m, the distance for the next iteration after one whose episodes lasted `episode_length`
    steps on average (NaN where none ended: no change)."""
    if curriculum.start is None or math.isnan(episode_length):
        return distance
    if episode_length > curriculum.tighten_above:
        distance *= 1 - curriculum.rate
    elif episode_length < curriculum.loosen_below:
        distance *= 1 + curriculum.rate
    return min(max(distance, final), curriculum.start)


def clip_probabilities(fail_rate: jax.Array, uniform_share: float) -> jax.Array:
    """(C,) sampling probabilities: `uniform_share` spread evenly, the rest in proportion to failure."""
    weights = fail_rate + 1e-6
    return uniform_share / fail_rate.shape[0] + (1.0 - uniform_share) * weights / weights.sum()


def update_fail_rate(fail_rate: jax.Array, clip: jax.Array, done: jax.Array, failed: jax.Array,
                     smoothing: float) -> jax.Array:
    """(C,) moving average of the failed fraction of the episodes of each clip that ended this step."""
    num = fail_rate.shape[0]
    ended = jax.ops.segment_sum(done.astype(jnp.float32), clip, num_segments=num)
    fails = jax.ops.segment_sum((done & failed).astype(jnp.float32), clip, num_segments=num)
    fraction = fails / jnp.maximum(ended, 1.0)
    return jnp.where(ended > 0, (1.0 - smoothing) * fail_rate + smoothing * fraction, fail_rate)


def next_levels(level: jax.Array, terminated: jax.Array, truncated: jax.Array, num_levels: int) -> jax.Array:
    """(N,) terrain levels after episodes end: +1 for a finished episode, -1 for a failed one."""
    step = jnp.where(terminated, -1, jnp.where(truncated, 1, 0))
    return jnp.clip(level + step, 0, num_levels - 1)
