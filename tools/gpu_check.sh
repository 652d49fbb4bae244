#!/usr/bin/env bash
# One prepared check for a lent GPU (under 10 minutes; see ../shared/gpu/README.md for the prelude
# that installs mujoco, mjx and Hydra there first). Stages, each under its own time limit so that a
# slow one leaves the next its time; rows go to $OUT/BENCHMARKS.md (merge them into BENCHMARKS.md):
#   1. env-only steps/s of MJX at 4096 envs and its compile time (tools/bench_env.py; 98 s on an H200);
#   2. preset=gpu on $MOTIONS (default the ASAP clips) trained for TRAIN_S seconds: the first
#      iteration (compiling), collect and update seconds, evaluations, peak memory of torch and JAX
#      (tools/bench_gpu.py --metrics), and the run's metrics.jsonl and curves.png in $OUT (the curve).
#      Its start alone took over 240 s on an H200 (prior 49 s, first evaluation 107 s, then the
#      step's compile): TRAIN_S must leave room for iterations after it;
#   3. the CPU preset on that machine's 16 cores (JAX on the CPU): what a workstation's cores buy the
#      native backend (tools/bench_train.py; 2 threads there measured once, BENCHMARKS "Training").
#
#   bash tools/gpu_check.sh               # on the GPU machine, OUT set by the device tool
#   bash tools/gpu_check.sh --cpu-smoke   # tiny sizes on a CPU: keeps the script working (a test runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
PYTHON=${PYTHON:-python3}
MOTIONS=${MOTIONS:-../shared/motions/asap_smpl}
RUN=${RUN:-/tmp/gpu_check_run}
mkdir -p "$OUT"
if [ "${1:-}" = --cpu-smoke ]; then
  ENV_ARGS=(--backend native --envs 2 --steps 2 --terrain flat)
  TRAIN=(preset=cpu env.num_envs=2 steps_per_env=4 iterations=3 eval_every=2 prior.steps=0
         "algo.actor.hidden=[16]" "algo.critic.hidden=[16]")
  CPU_THREADS=(1)
  CPU_TRAIN=(env.num_envs=2 steps_per_env=4 "algo.actor.hidden=[16]" "algo.critic.hidden=[16]" --iterations 1)
  ENV_S=300 TRAIN_S=300 CPU_S=300
elif [ $# -eq 0 ]; then
  ENV_ARGS=(--backend mjx --envs 4096 --terrain flat)
  TRAIN=(preset=gpu motions=asap "motions.path=$MOTIONS" iterations=5000 eval_every=15)
  CPU_THREADS=(16)
  CPU_TRAIN=(--iterations 5)
  ENV_S=${ENV_S:-130} TRAIN_S=${TRAIN_S:-330} CPU_S=${CPU_S:-50}
else
  echo "usage: bash tools/gpu_check.sh [--cpu-smoke]" >&2
  exit 2
fi
failed=0
stage() {  # stage SECONDS COMMAND...: run under a time limit; a failure or a timeout is reported, not fatal
  local limit=$1; shift
  timeout -s INT "$limit" "$@"
  local rc=$?
  if [ $rc -ne 0 ]; then echo "gpu_check: exit $rc (124: past ${limit} s): $*" >&2; failed=1; fi
}
"$PYTHON" -c "import jax, torch; print('devices:', jax.devices(), 'cuda:', torch.cuda.is_available())"
stage "$ENV_S" "$PYTHON" tools/bench_env.py "${ENV_ARGS[@]}" --output "$OUT/BENCHMARKS.md"
rm -rf "$RUN"
stage "$TRAIN_S" "$PYTHON" -m humanoid_fpo.cli train "${TRAIN[@]}" "run_dir=$RUN" progress=false wandb.mode=disabled
cp "$RUN/metrics.jsonl" "$RUN/curves.png" "$OUT/" 2>/dev/null
stage 60 "$PYTHON" tools/bench_gpu.py "${TRAIN[@]}" --metrics "$RUN/metrics.jsonl" --output "$OUT/BENCHMARKS.md"
for n in "${CPU_THREADS[@]}"; do
  cores=$(( n < $(nproc) ? n : $(nproc) ))
  JAX_PLATFORMS=cpu OMP_NUM_THREADS=$n stage "$CPU_S" taskset -c "0-$((cores - 1))" "$PYTHON" tools/bench_train.py \
    preset=cpu "env.threads=$n" "${CPU_TRAIN[@]}" --output "$OUT/BENCHMARKS.md"
done
echo "gpu_check: rows in $OUT/BENCHMARKS.md"
exit $failed
