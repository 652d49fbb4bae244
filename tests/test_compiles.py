"""What a GPU run compiles before its first iteration (issue 44): its env step once, no evaluation
env, at preset=gpu's shape on MJX (on the CPU here: the count does not depend on the device)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from humanoid_fpo.run import config as run_config
from humanoid_fpo.run.experiments import first_iteration_compiles
from humanoid_fpo.util.compiles import CompileLog

TINY_GPU = ["preset=gpu", "device=cpu", "env.num_envs=8", "algo.actor.hidden=[32]", "algo.critic.hidden=[32]",
            "prior.steps=2", "steps_per_env=2", "progress=false"]


def test_the_log_counts_lowerings_with_their_shapes() -> None:
    @jax.jit
    def double(x):
        return 2 * x

    with CompileLog() as log:
        double(jnp.ones(3))
        double(jnp.ones(3))  # cached: not lowered again
        double(jnp.ones(4))
    doubles = [p.shapes for p in log.programs if "double" in p.name]
    assert log.count("double") == 2 and "float32[3]" in doubles[0] and "float32[4]" in doubles[1], log.table()


def test_a_gpu_run_compiles_its_env_step_at_most_twice_before_iteration_1(tmp_path: Path) -> None:
    """Counted as lowerings, which the persistent cache (conftest) does not skip: only the backend
    compile is read back from it."""
    log = first_iteration_compiles(run_config.compose(TINY_GPU)[0], tmp_path / "run")
    assert 1 <= log.count("step") <= 2, log.table()
    assert not (tmp_path / "run" / "eval.json").exists(), "preset=gpu evaluated before iteration 1"
