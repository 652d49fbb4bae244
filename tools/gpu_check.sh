#!/usr/bin/env bash
# One prepared check for a lent GPU: one device call on a fresh machine, its install included, inside
# BUDGET_S (default 540 s: under 9 minutes, so that a call of 10 leaves room). Carry .whl and .gl
# (../shared/gpu/README.md). Stages in order, training first (no GPU training iteration has been
# measured yet, issue 44); rows go to $OUT/BENCHMARKS.md (merge them into BENCHMARKS.md):
#   0. the install prelude (wheels of .whl/, GL loaders of .gl/), timed, where mujoco is not importable;
#   1. preset=gpu on $MOTIONS (default the ASAP clips) for what the budget leaves after stage 2: its
#      metrics.jsonl copied into $OUT every few seconds as the rows come (throughput, collect and
#      update seconds, peak memory, evaluations on EVAL_CLIPS clips), stopped at its time (Ctrl-C: the
#      rows so far stand); then its row (tools/bench_gpu.py --metrics) and $OUT/curve.png (success,
#      frames and episode length against env steps and minutes). Before its first iteration the run
#      fits the prior and compiles its env step once (tools/count_compiles.py; no evaluation first);
#   2. env-only steps/s of MJX at 4096 envs and its compile time (tools/bench_env.py; 98 s on an H200);
#   3. the same on env.backend=warp (MJX's Warp implementation) where warp-lang is importable, else one
#      line saying it is skipped: its 149 MB wheel does not fit the carried tree (64 MiB), so the stage
#      runs only on a machine where it was installed.
#
#   bash tools/gpu_check.sh               # on the GPU machine, OUT set by the device tool
#   bash tools/gpu_check.sh --cpu-smoke   # tiny sizes on a CPU: keeps the script working (a test runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
PYTHON=${PYTHON:-python3}
MOTIONS=${MOTIONS:-../shared/motions/asap_smpl}
RUN=${RUN:-/tmp/gpu_check_run}
BUDGET_S=${BUDGET_S:-540}
mkdir -p "$OUT"
if [ "${1:-}" = --cpu-smoke ]; then
  ENV_ARGS=(--backend native --envs 2 --steps 2 --terrain flat)
  WARP_ARGS=(--backend warp --envs 2 --steps 2 --terrain flat)
  TRAIN=(preset=cpu env.num_envs=2 steps_per_env=4 iterations=3 eval_every=2 prior.steps=0
         "algo.actor.hidden=[16]" "algo.critic.hidden=[16]")
  ENV_S=120 WARP_S=120 SUMMARY_S=60
elif [ $# -eq 0 ]; then
  ENV_ARGS=(--backend mjx --envs 4096 --terrain flat)
  WARP_ARGS=(--backend warp --envs 4096 --terrain flat)
  TRAIN=(preset=gpu motions=asap "motions.path=$MOTIONS" iterations=5000 eval_every=${EVAL_EVERY:-20}
         eval_clips=${EVAL_CLIPS:-8} plot_every=1000000 checkpoint_every=1000000)
  ENV_S=${ENV_S:-130} WARP_S=${WARP_S:-130} SUMMARY_S=${SUMMARY_S:-40}
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
if "$PYTHON" -c "import mujoco.mjx, hydra" >/dev/null 2>&1; then
  echo "gpu_check: install 0 s (mujoco, mjx and Hydra importable)"
else  # ../shared/gpu/README.md's prelude
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD MUJOCO_GL=egl WANDB_MODE=disabled
  echo "gpu_check: install ${SECONDS} s"
fi
"$PYTHON" -c "import jax, torch; print('devices:', jax.devices(), 'cuda:', torch.cuda.is_available())"

if "$PYTHON" -c "import warp" >/dev/null 2>&1; then WARP=1; else WARP=0 WARP_S=0; fi

# 1. training, for what the budget leaves
TRAIN_S=$(( BUDGET_S - SECONDS - ENV_S - WARP_S - SUMMARY_S ))
echo "gpu_check: training for ${TRAIN_S} s"
rm -rf "$RUN"
( while sleep 5; do cp "$RUN/metrics.jsonl" "$OUT/metrics.jsonl.part" 2>/dev/null \
    && mv "$OUT/metrics.jsonl.part" "$OUT/metrics.jsonl"; done ) &
copier=$!
timeout -s INT -k 30 "$TRAIN_S" "$PYTHON" -m humanoid_fpo.cli train "${TRAIN[@]}" "run_dir=$RUN" progress=false \
  wandb.mode=disabled
rc=$?
kill "$copier" 2>/dev/null
cp "$RUN/metrics.jsonl" "$OUT/" 2>/dev/null
if [ $rc -eq 124 ]; then echo "gpu_check: training stopped at its ${TRAIN_S} s"
elif [ $rc -ne 0 ]; then echo "gpu_check: training exit $rc" >&2; failed=1; fi
stage "$SUMMARY_S" "$PYTHON" tools/bench_gpu.py "${TRAIN[@]}" --metrics "$RUN/metrics.jsonl" \
  --curve "$OUT/curve.png" --output "$OUT/BENCHMARKS.md"

# 2. the env alone
stage "$ENV_S" "$PYTHON" tools/bench_env.py "${ENV_ARGS[@]}" --output "$OUT/BENCHMARKS.md"

# 3. the env alone on Warp, where warp-lang is installed
if [ $WARP = 1 ]; then
  stage "$WARP_S" "$PYTHON" tools/bench_env.py "${WARP_ARGS[@]}" --output "$OUT/BENCHMARKS.md"
else
  echo "gpu_check: warp stage skipped: warp-lang is not importable here (its 149 MB wheel is not carried;" \
       "pip install warp-lang==1.18.0 where the machine has a network)"
fi
echo "gpu_check: ${SECONDS} s in all; rows in $OUT/BENCHMARKS.md"
exit $failed
