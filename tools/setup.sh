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
# A torch that is installed but does not import (a CUDA build whose driver is missing, say) is never
# replaced by the CPU one: that would silently undo a GPU install.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if .venv/bin/pip show -q torch >/dev/null 2>&1; then
    echo "setup: .venv holds a torch that does not import; see why with: .venv/bin/python -c 'import torch'" >&2
    echo "setup: fix or remove it (.venv/bin/pip uninstall torch), then rerun; setup leaves it alone" >&2
    exit 1
  fi
  .venv/bin/pip install -q "torch==2.13.0"
fi
.venv/bin/pip install -q -e ".[dev,viewer]"
