#!/usr/bin/env bash
# Set up humanoid_fpo on a fresh Debian/Ubuntu machine (idempotent, safe to rerun):
# the OSMesa software renderer for headless MuJoCo, and .venv with the pinned CPU stack.
# GPU users: install a CUDA build of torch into .venv first (see README); it is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p | grep -q libOSMesa; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libosmesa6 >/dev/null
  else
    echo "setup: libOSMesa is missing; run 'sudo apt-get install libosmesa6' for headless rendering" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# An unpinned torch (pulled in through smplx) would be a multi-GB CUDA build: take the CPU one.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[dev,viewer]"
