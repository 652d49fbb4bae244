#!/usr/bin/env bash
# One prepared check for a lent GPU (under 8 minutes; see ../shared/gpu/README.md for the prelude
# that installs mujoco, mjx and Hydra there first):
#   env-only steps/s of MJX at 4096 and 8192 envs (tools/bench_env.py), then 20 iterations of
#   preset=gpu motions=asap end to end with its breakdown, evaluation seconds, peak memory of torch
#   and JAX (tools/bench_gpu.py). Rows go to $OUT/BENCHMARKS.md (merge them into BENCHMARKS.md).
#
#   bash tools/gpu_check.sh               # on the GPU machine, OUT set by the device tool
#   bash tools/gpu_check.sh --cpu-smoke   # tiny sizes on a CPU: keeps the script working (a test runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
if [ "${1:-}" = --cpu-smoke ]; then
  ENV_ARGS=(--backend native --envs 2 --steps 2 --terrain flat)
  TRAIN=(preset=cpu env.num_envs=2 steps_per_env=4 iterations=3 eval_every=2 prior.steps=0
         "algo.actor.hidden=[16]" "algo.critic.hidden=[16]")
elif [ $# -eq 0 ]; then
  ENV_ARGS=(--backend mjx --envs 4096 8192 --terrain flat)
  TRAIN=(preset=gpu motions=asap iterations=20 eval_every=10)
else
  echo "usage: bash tools/gpu_check.sh [--cpu-smoke]" >&2
  exit 2
fi
"$PYTHON" -c "import jax, torch; print('devices:', jax.devices(), 'cuda:', torch.cuda.is_available())"
"$PYTHON" tools/bench_env.py "${ENV_ARGS[@]}" --output "$OUT/BENCHMARKS.md"
"$PYTHON" tools/bench_gpu.py "${TRAIN[@]}" --output "$OUT/BENCHMARKS.md"
echo "gpu_check: rows in $OUT/BENCHMARKS.md"
