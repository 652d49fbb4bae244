"""Published motion clips fetched into the project: `humanoid-fpo motions fetch asap`.

A source (`sources/<name>.json`) pins a repository commit and each file's sha256 and size. A file is
written to DEST/.<file>.part, checked, and only then renamed to its final name, so a damaged or
half-downloaded file is never read as a clip. A rerun skips the files already there with the right
hash and resumes a leftover .part file with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import urllib.error
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.request import Request, urlopen

SOURCE_DIR = Path(__file__).resolve().parent / "sources"
TIMEOUT_S = 30.0
CHUNK = 1 << 16
LICENCE_MAX_BYTES = 1 << 20  # a licence has no pinned size; this bounds a wrong answer
# What a dropped or unreachable server raises (URLError covers refused connections and HTTP errors);
# a local disk error is not among them and is not reported as a network failure.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class FetchError(ValueError):
    """A source that cannot be fetched, or a file that fails its check; the message is one line. A
    ValueError so that the CLI reports it in one line, as it does a MotionFileError."""


@dataclass(frozen=True)
class SourceFile:
    name: str  # the file's name in the destination folder
    remote: str  # its path under the source's base URL
    sha256: str
    size: int  # bytes


@dataclass(frozen=True)
class Licence:
    name: str
    remote: str  # path under the base URL
    local: str  # file name beside the clips
    contains: str  # a phrase the text must hold: no hash is pinned (see the source file's note)


@dataclass(frozen=True)
class Source:
    name: str
    commit: str
    base_url: str  # ends with "/"; a file's address is base_url + remote
    folder: str  # default destination, relative to the working directory as motions.path is
    config: str  # the override that trains on the default folder (motions=asap)
    licence: Licence
    files: tuple[SourceFile, ...]


def known_sources() -> list[str]:
    """The names `fetch` accepts: the files of sources/."""
    return sorted(p.stem for p in SOURCE_DIR.glob("*.json"))


def load_source(name: str) -> Source:
    """The packaged source `name` (sources/<name>.json); an unknown name is a one-line FetchError."""
    path = SOURCE_DIR / f"{name}.json"
    if not path.is_file():
        raise FetchError(f"unknown motion source {name!r}; known: {', '.join(known_sources())}")
    data = json.loads(path.read_text())
    licence = {k: data["licence"][k] for k in ("name", "remote", "local", "contains")}
    return Source(name=name, commit=data["commit"], base_url=data["base_url"], folder=data["folder"],
                  config=data["config"], licence=Licence(**licence),
                  files=tuple(SourceFile(**f) for f in data["files"]))


def fetch(source: Source, dest: str | Path | None = None, base_url: str | None = None,
          from_dir: str | Path | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Put every file of `source` and its licence into `dest` (default: source.folder), each checked
    against its sha256, downloading from `base_url` (default: the pinned commit's) or copying from
    the folder `from_dir`. Prints one line per file and a last line naming the folder and the config
    override that reads it. Returns the folder. Raises FetchError on a damaged file (naming it, with
    nothing left under its name) or an unreachable server (with what to do offline)."""
    dest = Path(dest or source.folder).expanduser()
    base_url = (base_url or source.base_url).rstrip("/") + "/"  # a mirror given without its last slash
    from_dir = None if from_dir is None else Path(from_dir).expanduser()
    if from_dir is not None and not from_dir.is_dir():
        raise FetchError(f"--from {from_dir}: no such folder")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        counts = Counter(_fetch_file(f, dest, base_url, from_dir, timeout) for f in source.files)
        _fetch_licence(source.licence, dest, base_url, from_dir, timeout)
    except NETWORK_ERRORS as e:
        raise FetchError(_offline_hint(source, base_url, e)) from None
    done = ", ".join(f"{n} {how}" for how, n in sorted(counts.items()))
    same = dest.resolve() == Path(source.folder).resolve()
    print(f"{source.name}: {len(source.files)} clips in {dest} ({done}); train on them with "
          f"{source.config if same else f'motions.path={dest}'}")
    return dest


def _fetch_file(f: SourceFile, dest: Path, base_url: str, from_dir: Path | None, timeout: float) -> str:
    """One clip into dest/f.name unless it is there intact; returns how (present, copied, downloaded,
    resumed)."""
    final, part = dest / f.name, dest / f".{f.name}.part"
    if _problem(final, f) is None:
        how = "present"
    elif from_dir is not None:
        origin = _local_copy(from_dir, f)
        shutil.copyfile(origin, part)
        _install(part, final, f, str(origin))
        how = "copied"
    else:
        url = base_url.rstrip("/") + "/" + f.remote
        how = _download_checked(url, part, f, timeout)
        _install(part, final, f, url)
    print(f"  {f.name:<32} {f.size / 1000:7.1f} kB  {how}")
    return how


def _download_checked(url: str, part: Path, f: SourceFile, timeout: float) -> str:
    """Download `url` into `part`, resuming what is there; 'downloaded' or 'resumed'."""
    resumed = _download(url, part, f.size, timeout)
    if resumed and _problem(part, f) is not None:  # the leftover bytes were not this file's start
        part.unlink()
        _download(url, part, f.size, timeout)
    return "resumed" if resumed else "downloaded"


def _download(url: str, part: Path, size: int, timeout: float) -> bool:
    """Write `url` to `part`, reading at most about `size` bytes; a shorter `part` already there is
    continued with a Range request where the server honours it. Returns whether it was continued."""
    have = part.stat().st_size if part.exists() else 0
    have = have if 0 < have < size else 0  # nothing to continue, or too long to be this file's start
    request = Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urlopen(request, timeout=timeout) as response:
        resumed = have > 0 and response.status == 206  # a server without Range support sends it whole
        limit = size - (have if resumed else 0)
        with part.open("ab" if resumed else "wb") as out:
            written = _copy_stream(response, out, limit)
        announced = response.headers.get("Content-Length")
    # urllib returns a dropped connection's bytes as a short body; raised, `part` is kept to resume
    if announced is not None and written < min(int(announced), limit + 1):
        raise ConnectionError(f"connection dropped after {written} of {announced} bytes of {url}")
    return resumed


def _copy_stream(src: BinaryIO, out: BinaryIO, limit: int) -> int:
    """Copy until the end of `src` or just past `limit` bytes (then the size check refuses the file);
    returns the bytes copied."""
    written = 0
    while written <= limit and (chunk := src.read(CHUNK)):
        out.write(chunk)
        written += len(chunk)
    return written


def _install(part: Path, final: Path, f: SourceFile, origin: str) -> None:
    """Rename a checked `part` to `final`; a damaged one is deleted and refused."""
    problem = _problem(part, f)
    if problem is not None:
        part.unlink()
        raise FetchError(f"{f.name} from {origin}: {problem}; refused, nothing kept under its name")
    os.replace(part, final)


def _problem(path: Path, f: SourceFile) -> str | None:
    """Why `path` is not f's pinned file (missing, wrong size, wrong sha256), or None."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != f.size:
        return f"{size} bytes, expected {f.size}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != f.sha256:
        return f"sha256 {digest[:12]}..., expected {f.sha256[:12]}..."
    return None


def _local_copy(from_dir: Path, f: SourceFile) -> Path:
    """f in `from_dir`, under its own name or the remote one (video_<name>_filter_amass.npz)."""
    for candidate in (from_dir / f.name, from_dir / Path(f.remote).name):
        if candidate.is_file():
            return candidate
    raise FetchError(f"--from {from_dir}: no {f.name} (nor {Path(f.remote).name})")


def _fetch_licence(licence: Licence, dest: Path, base_url: str, from_dir: Path | None,
                   timeout: float) -> None:
    """The licence beside the clips, checked only for its phrase (no hash is pinned); with --from
    and no licence in that folder, a note where to read it."""
    final, part = dest / licence.local, dest / f".{licence.local}.part"
    url = base_url.rstrip("/") + "/" + licence.remote
    if _has_phrase(final, licence.contains):
        how = "present"
    elif from_dir is not None and not (from_dir / licence.local).is_file():
        print(f"  {licence.local:<32} not in {from_dir}: the clips' licence ({licence.name}) is at {url}")
        return
    else:
        if from_dir is not None:
            shutil.copyfile(from_dir / licence.local, part)
        else:
            part.unlink(missing_ok=True)  # unhashed: a leftover start cannot be checked, so start over
            _download(url, part, LICENCE_MAX_BYTES, timeout)
        if not _has_phrase(part, licence.contains):
            part.unlink()
            raise FetchError(f"{licence.local} from {from_dir or url} does not read as the {licence.name} "
                             f"(no {licence.contains!r}); refused")
        os.replace(part, final)
        how = "copied" if from_dir is not None else "downloaded"
    print(f"  {licence.local:<32} {'':>10}  {how} ({licence.name}; not hash-checked)")


def _has_phrase(path: Path, phrase: str) -> bool:
    return path.is_file() and phrase in path.read_text(errors="replace")


def _offline_hint(source: Source, base_url: str, error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        reason = f"HTTP {error.code} {error.reason} for {error.url}"
    else:
        reason = getattr(error, "reason", None) or error
    return (f"cannot download from {base_url} ({reason}); rerun to resume, or offline, copy the "
            f"{len(source.files)} .npz files from a machine that has them into a folder and run: "
            f"humanoid-fpo motions fetch {source.name} --from FOLDER")
