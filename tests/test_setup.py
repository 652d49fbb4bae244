"""tools/setup.sh against stub .venv tools: it installs the pinned CPU torch only where no torch is
installed, and never replaces one that is installed but does not import (a CUDA build without its
driver)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).resolve().parent.parent / "tools" / "setup.sh"


def _stub_project(tmp_path: Path, torch_installed: bool) -> Path:
    (tmp_path / "tools").mkdir()
    shutil.copy(SETUP, tmp_path / "tools" / "setup.sh")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "pip.log"
    (bin_dir / "python").write_text("#!/bin/sh\nexit 1\n")  # `import torch` fails
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "$@" >> {log}\n'
                                 f'[ "$1" = show ] && exit {0 if torch_installed else 1}\nexit 0\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    return log


def _has_osmesa() -> bool:
    """Where it is missing setup.sh would install it (as root): not something a test should do."""
    if not shutil.which("ldconfig"):
        return False
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return "libOSMesa" in found


@pytest.mark.skipif(not _has_osmesa(),
                    reason="setup.sh would install libOSMesa here (it targets Debian/Ubuntu)")
@pytest.mark.parametrize("torch_installed", [False, True])
def test_setup_never_replaces_an_installed_torch(tmp_path: Path, torch_installed: bool) -> None:
    log = _stub_project(tmp_path, torch_installed)
    done = subprocess.run(["bash", str(tmp_path / "tools" / "setup.sh")], capture_output=True, text=True,
                          timeout=120)
    calls = log.read_text() if log.exists() else ""
    if torch_installed:
        assert done.returncode == 1 and "does not import" in done.stderr, done.stderr
        assert "install" not in calls, calls
    else:
        assert done.returncode == 0, done.stderr
        assert "install -q torch==2.13.0" in calls and "install -q -e .[dev,viewer]" in calls, calls
