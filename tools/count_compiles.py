"""What a training run compiles before its first iteration ends: every JAX program lowered (name,
backend seconds, argument shapes), from the run's start (prior, an evaluation at iteration 0) to the
end of iteration 1, and how many of them are the env step. The count and the shapes do not depend
on the device, so a CPU measures a GPU run's at small sizes:

    python tools/count_compiles.py preset=gpu device=cpu env.num_envs=8 "algo.actor.hidden=[32]" \\
        "algo.critic.hidden=[32]" prior.steps=2 steps_per_env=2

Arguments are `humanoid-fpo train` overrides; the run folder is a temporary one and no persistent
cache is read (every program compiles, as on a fresh machine).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import humanoid_fpo  # noqa: F401  (first: headless GL backend, JAX's allocator beside torch's)

from humanoid_fpo.run import config as run_config
from humanoid_fpo.run.experiments import first_iteration_compiles


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    cfg = run_config.compose([*sys.argv[1:], "progress=false", "wandb.mode=disabled"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        log = first_iteration_compiles(cfg, Path(tmp))
    print(log.table())
    print(f"{len(log.programs)} programs before the end of iteration 1, {log.count('step')} of them the "
          f"env step; {sum(p.backend_s for p in log.programs):.0f} s compiling")


if __name__ == "__main__":
    main()
