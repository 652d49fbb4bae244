"""`humanoid-fpo motions fetch`: a fake copy of a source served over loopback HTTP, each file checked by
sha256, written under its name only once checked, resumed after an interruption; offline, one line."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from humanoid_fpo.cli import main
from humanoid_fpo.motion.fetch import FetchError, Licence, Source, SourceFile, fetch, load_source
from humanoid_fpo.run.config import CONFIG_DIR

LICENCE = b"MIT License\n\nCopyright (c) 2025 Test\n\nPermission is hereby granted, free of charge, ...\n"


def _npz(seed: int, frames: int) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(seed)
    np.savez(buffer, poses=rng.normal(size=(frames, 72)).astype(np.float32), mocap_framerate=30)
    return buffer.getvalue()


CLIPS = {"walk.npz": _npz(0, 40), "jump.npz": _npz(1, 60), "kick.npz": _npz(2, 50)}


def _source(clips: dict[str, bytes]) -> Source:
    """A manifest of `clips` laid out as ASAP's: remote clips/video_<name>, the licence at the top."""
    files = tuple(SourceFile(name, f"clips/video_{name}", hashlib.sha256(b).hexdigest(), len(b))
                  for name, b in clips.items())
    licence = Licence("MIT License", "LICENSE", "LICENSE", "Permission is hereby granted")
    return Source("fake", "0" * 40, "http://unused.invalid/", "data/motions/fake", "motions=fake", licence,
                  files)


SOURCE = _source(CLIPS)


class _Handler(BaseHTTPRequestHandler):
    """Serves server.state.files by path, honours `Range: bytes=N-`, records each request, and sends
    only half of the paths in state.drop before closing (a dropped connection)."""

    timeout = 5  # a stuck client cannot hold a handler thread past the test

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append((self.path, self.headers.get("Range")))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        self.wfile.write(payload[:len(payload) // 2] if self.path in state.drop else payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """A loopback server holding CLIPS and the licence; state.url is its base URL."""
    files = {f"/{f.remote}": CLIPS[f.name] for f in SOURCE.files} | {"/LICENSE": LICENCE}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = SimpleNamespace(files=files, requests=[], drop=set(),
                                  url=f"http://127.0.0.1:{httpd.server_address[1]}/")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _assert_complete(dest: Path) -> None:
    for name, body in CLIPS.items():
        assert (dest / name).read_bytes() == body
    assert (dest / "LICENSE").read_bytes() == LICENCE
    assert not list(dest.glob(".*.part"))


def test_clean_fetch_writes_every_file_and_the_licence(server, tmp_path: Path, capsys) -> None:
    assert fetch(SOURCE, tmp_path / "clips", server.url, timeout=5) == tmp_path / "clips"
    _assert_complete(tmp_path / "clips")
    last = capsys.readouterr().out.splitlines()[-1]
    assert "3 clips" in last and f"motions.path={tmp_path / 'clips'}" in last


def test_rerun_skips_what_is_there(server, tmp_path: Path, capsys) -> None:
    fetch(SOURCE, tmp_path, server.url, timeout=5)
    server.requests.clear()
    capsys.readouterr()
    fetch(SOURCE, tmp_path, server.url, timeout=5)
    assert server.requests == []
    assert "(3 present)" in capsys.readouterr().out
    _assert_complete(tmp_path)


def test_damaged_file_is_refused_and_not_kept(server, tmp_path: Path) -> None:
    body = CLIPS["jump.npz"]
    server.files["/clips/video_jump.npz"] = body[:100] + bytes([body[100] ^ 1]) + body[101:]
    with pytest.raises(FetchError, match=r"jump\.npz from .*sha256.*refused"):
        fetch(SOURCE, tmp_path, server.url, timeout=5)
    assert (tmp_path / "walk.npz").read_bytes() == CLIPS["walk.npz"]  # the one before it is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.npz"]


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path: Path, capsys) -> None:
    server.drop.add("/clips/video_jump.npz")
    with pytest.raises(FetchError, match="--from FOLDER"):
        fetch(SOURCE, tmp_path, server.url, timeout=5)
    half = len(CLIPS["jump.npz"]) // 2
    assert not (tmp_path / "jump.npz").exists() and (tmp_path / ".jump.npz.part").stat().st_size == half
    server.drop.clear()
    server.requests.clear()
    capsys.readouterr()
    fetch(SOURCE, tmp_path, server.url, timeout=5)
    assert ("/clips/video_jump.npz", f"bytes={half}-") in server.requests
    assert "/clips/video_walk.npz" not in [path for path, _ in server.requests]
    assert re.search(r"jump\.npz .* resumed", capsys.readouterr().out)
    _assert_complete(tmp_path)


def test_leftover_part_that_is_not_the_file_start_is_discarded(server, tmp_path: Path) -> None:
    (tmp_path / ".kick.npz.part").write_bytes(b"not the start of kick.npz")
    fetch(SOURCE, tmp_path, server.url, timeout=5)
    assert [r for r in server.requests if r[0] == "/clips/video_kick.npz"] == [
        ("/clips/video_kick.npz", "bytes=25-"), ("/clips/video_kick.npz", None)]
    _assert_complete(tmp_path)


def test_no_server_gives_the_offline_hint_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as e:
        fetch(SOURCE, tmp_path, f"http://127.0.0.1:{port}/", timeout=5)
    assert "\n" not in str(e.value)
    assert "copy the 3 .npz files" in str(e.value) and "motions fetch fake --from FOLDER" in str(e.value)


def test_from_folder_installs_with_the_same_checks(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    for name, body in CLIPS.items():  # remote names are accepted too
        (local / (name if name != "kick.npz" else "video_kick.npz")).write_bytes(body)
    (local / "LICENSE").write_bytes(LICENCE)
    fetch(SOURCE, tmp_path / "dest", "http://127.0.0.1:1/", from_dir=local)  # no network is asked
    _assert_complete(tmp_path / "dest")
    (local / "walk.npz").write_bytes(CLIPS["walk.npz"][:-1])
    (tmp_path / "dest" / "walk.npz").unlink()
    with pytest.raises(FetchError, match=r"walk\.npz from .*bytes, expected"):
        fetch(SOURCE, tmp_path / "dest", from_dir=local)
    assert not (tmp_path / "dest" / "walk.npz").exists()


def test_unknown_source_is_a_one_line_error_naming_the_known(capsys) -> None:
    assert main(["motions", "fetch", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope'" in err and "asap" in err


def test_motions_asap_reads_the_folder_fetch_writes() -> None:
    config = yaml.safe_load((CONFIG_DIR / "motions" / "asap.yaml").read_text())
    assert config["path"] == load_source("asap").folder


def test_packaged_manifest_pins_the_33_shared_clips(shared_motions: Path) -> None:
    source = load_source("asap")
    clips = sorted((shared_motions / "asap_smpl").glob("*.npz"))
    assert len(clips) == 33
    assert [f.name for f in source.files] == [p.name for p in clips]
    for f, p in zip(source.files, clips):
        assert (f.size, f.sha256) == (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()), f.name
        assert f.remote.endswith(f"raw_tairantestbed_smpl/video_{p.stem}_filter_amass.npz")
    assert source.commit in source.base_url


def test_cli_installs_the_shared_clips_from_a_folder(shared_motions: Path, tmp_path: Path, capsys) -> None:
    assert main(["motions", "fetch", "asap", "--from", str(shared_motions / "asap_smpl"),
                 "--dest", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.npz"))) == 33
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"(33 copied); train on them with "
                                                            f"motions.path={tmp_path}")
