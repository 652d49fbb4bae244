"""`humanoid-fpo play`: the viser viewer served on a free port, its page over HTTP, the humanoid and
its reference stepped through the viewer's API; the message when viser is missing."""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from humanoid_fpo.cli import main
from humanoid_fpo.view.play import Viewer

PELVIS = 1  # MuJoCo body id of the root


def _check_viewer(viewer: Viewer) -> None:
    """What a session in the browser does, through the API the GUI calls."""
    with urllib.request.urlopen(viewer.url, timeout=30) as page:
        assert page.status == 200 and b"<title>Viser</title>" in page.read()
    player, humanoid, reference = viewer.player, viewer.bodies["humanoid"], viewer.bodies["reference"]
    assert (player.clip, player.mode, player.flow_steps, player.frame) == ("stand", "root", 2, 0)
    np.testing.assert_allclose(player.qpos, player.ref_qpos, atol=1e-4)  # frame 0: the reference state
    before = {b: frame.position.copy() for b, frame in humanoid.items()}

    viewer.step(3)
    assert player.frame == 3 and viewer.texts["frame"].value == f"3 / {player.length - 1}"
    # viser skips a change within np.allclose of the current value (1e-5 relative: 40 µm at 4 m)
    np.testing.assert_allclose(humanoid[PELVIS].position, player.qpos[:3], atol=1e-4)
    np.testing.assert_allclose(reference[PELVIS].position, player.ref_qpos[:3], atol=1e-4)
    np.testing.assert_allclose(viewer.world.position, [*-player.ref_qpos[:2], 0], atol=1e-4)  # follows
    moved = max(np.linalg.norm(frame.position - before[b]) for b, frame in humanoid.items())
    assert moved > 0.01, "the humanoid's scene nodes follow its pose"
    assert np.abs(player.qpos - player.ref_qpos).max() > 0.01, "the policy's pose, not the reference's"

    viewer.step(player.length)  # the fixture's policy fails within a few frames; play on to the end
    assert player.finished and player.frame == player.length - 1
    assert player.failed_at is not None and 0 < player.failed_at < player.frame
    assert viewer.texts["status"].value == f"failed at frame {player.failed_at}"
    viewer.step()
    assert player.frame == player.length - 1, "a finished clip stays on its last frame"

    viewer.toggle()  # play at the end restarts the clip; the viewer's thread advances it
    deadline = time.monotonic() + 10
    while player.frame < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    viewer.toggle()
    assert player.frame >= 2 and player.failed_at is None and not viewer.playing

    poses = {}
    for noise, steps in (("zero", 2), ("random", 2), ("zero", 1)):
        viewer.reset(clip="squat", mode="full")
        player.noise, player.flow_steps = noise, steps
        viewer.step()
        poses[noise, steps] = player.qpos
    assert player.clip == "squat" and player.mode == "full"
    assert not np.allclose(poses["zero", 2], poses["random", 2]), "x0 matters"
    assert not np.allclose(poses["zero", 2], poses["zero", 1]), "K matters"


def test_play_serves_the_viewer_and_steps_the_humanoid(run_dir: Path, monkeypatch, capsys) -> None:
    served = []

    def session(viewer: Viewer) -> None:  # instead of waiting for Ctrl-C
        served.append(viewer.url)
        assert viewer.server.get_host() == "127.0.0.1", "this machine only, unless --host widens it"
        # what the kernel holds: listening on loopback only (the default was 0.0.0.0, every interface)
        assert _listening_addresses(viewer.server.get_port()) == {"127.0.0.1"}
        _check_viewer(viewer)

    monkeypatch.setattr(Viewer, "wait", session)
    assert main(["play", str(run_dir), "--clip", "stand", "--mode", "root", "--flow-steps", "2",
                 "--port", "0"]) == 0
    assert f"iteration 0) at {served[0]}" in capsys.readouterr().out
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(served[0], timeout=5)  # stopped on leaving


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses the kernel has a socket listening on `port` at (Linux's /proc/net/tcp; no
    traffic sent)."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
            listening.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return listening


def test_a_port_in_use_is_a_one_line_error_before_the_run_loads(monkeypatch, capsys) -> None:
    """viser silently served on the next port; the URL printed then was not the one asked for."""
    import humanoid_fpo.evaluate as evaluate

    monkeypatch.setattr(evaluate, "load_policy", lambda *args: pytest.fail("the run was loaded"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["play", "RUN", "--port", str(port)]) == 1
    assert capsys.readouterr().err == (f"error: port {port} on 127.0.0.1 is in use: choose another --port, "
                                       "or --port 0 for any free one\n")


def test_play_help_names_the_default_host(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["play", "--help"])
    assert "default 127.0.0.1" in " ".join(capsys.readouterr().out.split())


def test_play_bad_clip_and_missing_viser(run_dir: Path, monkeypatch, capsys) -> None:
    assert main(["play", str(run_dir), "--clip", "moonwalk", "--port", "0"]) == 1
    assert "no clip 'moonwalk'; it has: " in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "viser", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "humanoid_fpo.view.play")
    assert main(["play", str(run_dir)]) == 1
    assert capsys.readouterr().err == "error: the viewer needs viser: pip install -e .[viewer]\n"


def test_meshes_match_mujoco_geoms_and_heightfield(model) -> None:
    from humanoid_fpo.view.play import geom_mesh, hfield_mesh
    from humanoid_fpo.sim.config import TerrainConfig
    from humanoid_fpo.sim.scene import make_scene
    from humanoid_fpo.sim.terrain import make_terrain

    for geom in range(1, model.ngeom):  # the humanoid's; 0 is the floor
        half = model.geom_aabb[geom, 3:]  # MuJoCo's bounding box in the geom frame, centred
        np.testing.assert_allclose(geom_mesh(model, geom).bounds, [-half, half], rtol=0.05, atol=1e-6)
    terrain = make_terrain(TerrainConfig(types=("rough", "steps"), num_levels=2, tile_size=2.0, border=1.0))
    scene = make_scene(terrain)
    heights = np.asarray(terrain.heights)
    vertices = hfield_mesh(scene, scene.geom("floor").id).vertices.reshape(*heights.shape, 3)
    np.testing.assert_allclose(vertices[..., 2], heights, atol=1e-5)
    np.testing.assert_allclose(vertices[0, 0, :2], terrain.origin, atol=1e-6)
    np.testing.assert_allclose(vertices[1, 1, :2] - vertices[0, 0, :2], terrain.spacing, atol=1e-6)
