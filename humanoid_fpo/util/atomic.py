"""Atomic file output: a reader never sees a half-written file, a failure never loses the old one;
and `check_output`, the check of an output path that every command makes before its work."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); on success it replaces `path`. On any
    exception (KeyboardInterrupt included) the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should read like any file
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_output(path: str | Path, kind: str = "file", suffixes: Sequence[str] = ()) -> Path:
    """Raise ValueError, one line naming `path`, unless a `kind` ("file" or "dir") can be written
    there: a file path that is a folder or lacks one of `suffixes`, a folder path that is a file, a
    parent that is a file, or a folder that refuses a new file (probed: permissions, read-only and
    virtual file systems). Missing parent folders are fine (`atomic_path` makes them). Returns `path`."""
    path = Path(path).expanduser()
    if kind == "file":
        if path.is_dir():
            raise ValueError(f"{path}: is a folder; name a file in it")
        if suffixes and path.suffix.lower() not in suffixes:
            raise ValueError(f"{path}: expected a {' or '.join(suffixes)} file")
    elif path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file; expected a folder")
    existing = path if kind == "dir" else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{path}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{path}: cannot write in {existing} ({e.strerror})") from None
    return path
