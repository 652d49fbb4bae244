"""`humanoid-fpo play`: a web viewer (viser) of a trained policy tracking one clip beside its
translucent reference, with the physics on the CPU (the native backend), so it runs anywhere.

`Player` plays one clip of the success-rate protocol (frame 0, no randomisation) in one env under
the EMA policy; goal mode, flow steps K and the sampler start x0 are its settings. It keeps playing
after the protocol's failure (mean error of the 20 protocol bodies above 0.5 m) and reports the
frame of that failure; it stops at the clip's end. `Viewer` serves a Player over HTTP: the
humanoid's and the reference's geoms, posed by MuJoCo kinematics, the ground, play/pause, step and
restart, the settings, and the current frame, error and status. It listens on 127.0.0.1 unless told
another address; a port in use is an error (`check_port`; viser alone would take the next free one).
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import replace

import jax
import mujoco
import numpy as np
import trimesh
import viser

from humanoid_fpo.evaluate import NOISES
from humanoid_fpo.learn.bridge import to_jax, to_torch
from humanoid_fpo.learn.learner import Learner
from humanoid_fpo.motion.library import MotionLibrary
from humanoid_fpo.view.render import GHOST_RGBA
from humanoid_fpo.sim.config import MODES, EnvConfig
from humanoid_fpo.sim.env import eval_config, make_env, reference, reset, step, with_termination_distance
from humanoid_fpo.sim.rewards import protocol_error


class Player:
    """One clip at a time in a one-env protocol env on the native backend, driven by `learner`'s
    EMA policy in `flow_steps` Euler steps from x0 of `noise` ("zero" or "random")."""

    def __init__(self, cfg: EnvConfig, library: MotionLibrary, learner: Learner, flow_steps: int,
                 mode: str, clip: str | None = None):
        self.env = make_env(eval_config(replace(cfg, backend="native"), 1), library)
        self.learner, self.flow_steps, self.noise = learner, flow_steps, NOISES[0]
        self.limit = self.env.cfg.termination_distance  # m, the protocol's failure threshold
        self.clip, self.mode = library.clip_names[0], mode
        self.reset(clip, mode)

    @property
    def clips(self) -> tuple[str, ...]:
        return self.env.library.clip_names

    def reset(self, clip: str | None = None, mode: str | None = None) -> None:
        """Start `clip` from frame 0 with goals of `mode` (default: the current clip and mode)."""
        clip, mode = clip or self.clip, mode or self.mode
        if clip not in self.clips:
            raise ValueError(f"no clip {clip!r}; it has: {', '.join(self.clips)}")
        if mode not in MODES:
            raise ValueError(f"unknown conditioning mode {mode!r}; choose from {', '.join(MODES)}")
        self.clip, self.mode = clip, mode
        state = reset(self.env, jax.random.key(0), [self.clips.index(clip)], [MODES.index(mode)])
        self.state = with_termination_distance(state, np.inf)  # failures are reported, not ended
        self._ref = reference(self.env, state.episode, state.episode.step).qpos[0]
        self.failed_at: int | None = None  # frame of the protocol's failure
        self.finished = False  # the clip's end reached (or the physics blew up)

    def step(self, n: int = 1) -> None:
        """Advance `n` control steps; none once finished."""
        for _ in range(n):
            if self.finished:
                return
            obs = to_torch(self.state.obs).to(self.learner.device)
            action = self.learner.eval_action(obs, self.flow_steps, self.noise == "random")
            before, self.state = self.state, step(self.env, self.state, to_jax(action))
            # the reference of the step just taken, from the episode before any restart
            self._ref = reference(self.env, before.episode, before.episode.step + 1).qpos[0]
            if self.failed_at is None and (self.error > self.limit or bool(self.state.terminated[0])):
                self.failed_at = self.frame
            self.finished = bool(self.state.done[0])

    @property
    def frame(self) -> int:
        """Control steps into the clip (30 fps)."""
        return int(self.state.info["episode_length"][0])

    @property
    def length(self) -> int:
        """The clip's frames."""
        return int(self.env.library.clip_length[self.clips.index(self.clip)])

    @property
    def qpos(self) -> np.ndarray:
        """(nq,) the humanoid's pose at `frame` (the env restarts at the clip's end; this is not)."""
        return np.asarray(self.state.info["qpos"][0])

    @property
    def ref_qpos(self) -> np.ndarray:
        """(nq,) the reference pose at `frame`."""
        return np.asarray(self._ref)

    @property
    def error(self) -> float:
        """m, mean position error of the 20 protocol bodies at `frame`."""
        return float(protocol_error(self.state.info["body_error"][0]))

    @property
    def status(self) -> str:
        """"tracking", "success" (the clip's end reached) or "failed at frame F"."""
        if self.failed_at is not None:
            return f"failed at frame {self.failed_at}"
        return "success" if self.finished else "tracking"


def geom_mesh(model: mujoco.MjModel, geom: int) -> trimesh.Trimesh:
    """The surface of a capsule, cylinder, box, sphere or ellipsoid geom, in the geom's frame."""
    size, kind = model.geom_size[geom], mujoco.mjtGeom(model.geom_type[geom])
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return trimesh.creation.capsule(height=2 * size[1], radius=size[0])
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1])
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return trimesh.creation.box(extents=2 * size)
    if kind in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_ELLIPSOID):
        sphere = trimesh.creation.icosphere(subdivisions=2)
        axes = size if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID else size[:1]
        return trimesh.Trimesh(sphere.vertices * axes, sphere.faces)
    raise ValueError(f"geom {model.geom(geom).name!r}: the viewer cannot draw a {kind.name}")


def hfield_mesh(model: mujoco.MjModel, geom: int) -> trimesh.Trimesh:
    """The heightfield of `geom` as a triangle mesh in world coordinates."""
    h = model.geom_dataid[geom]
    rows, cols = model.hfield_nrow[h], model.hfield_ncol[h]
    half_x, half_y, top, _ = model.hfield_size[h]
    z = model.hfield_data[model.hfield_adr[h]:model.hfield_adr[h] + rows * cols].reshape(rows, cols) * top
    x, y = np.meshgrid(np.linspace(-half_x, half_x, cols), np.linspace(-half_y, half_y, rows))
    corner = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = (corner[:-1, :-1], corner[:-1, 1:], corner[1:, :-1], corner[1:, 1:])
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    vertices = np.stack([x, y, z], -1).reshape(-1, 3) + model.geom_pos[geom]
    return trimesh.Trimesh(vertices, faces, process=False)


def check_port(host: str, port: int) -> None:
    """Raise ValueError naming `host` and `port` where a server cannot listen there (viser would
    silently serve on the next free port); port 0, any free port, passes. Binds as asyncio's server
    does (SO_REUSEADDR, IPv6 sockets IPv6-only), so a port only closing connections hold is free."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ValueError(f"cannot listen on {host}: {e.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise ValueError(_port_in_use(host, port)) from None
                raise ValueError(f"cannot listen on {host} port {port}: {e.strerror}") from None


def _port_in_use(host: str, port: int) -> str:
    return f"port {port} on {host} is in use: choose another --port, or --port 0 for any free one"


def _rgb(rgba: np.ndarray | tuple[float, ...]) -> tuple[int, int, int]:
    return tuple(int(255 * c) for c in rgba[:3])


class Viewer:
    """A viser server of `player` at http://host:port (port 0: a free one; a port in use: ValueError).
    A thread advances the player at the clip's frame rate while playing; `step`, `reset` and
    `toggle` are what the GUI's buttons and dropdowns call."""

    def __init__(self, player: Player, host: str = "127.0.0.1", port: int = 8080):
        self.player, self.lock, self.playing = player, threading.Lock(), False
        self.model = player.env.mj_model
        self.data = mujoco.MjData(self.model)
        self.server = viser.ViserServer(host, port, label="humanoid-fpo play", verbose=False)
        if port and self.server.get_port() != port:  # taken since check_port: viser moved on
            self.server.stop()
            raise ValueError(_port_in_use(host, port))
        self.host = "localhost" if host == "0.0.0.0" else host
        camera = self.server.initial_camera
        camera.position, camera.look_at = (2.5, -2.5, 1.5), (0.0, 0.0, 0.8)
        self.world = self.server.scene.add_frame("/world", show_axes=False)
        """Holds the scene; shifted to keep the reference's pelvis above the origin when following it."""
        self._ground()
        self.bodies = {"humanoid": self._humanoid("/world/humanoid", None),
                       "reference": self._humanoid("/world/reference", GHOST_RGBA)}
        """Scene frames by body id (1..nbody-1), each posed at its body's xpos, xquat."""
        self._gui()
        with self.lock:
            self._show()
        self.stopped = threading.Event()
        period = 1 / float(player.env.library.fps)
        self.thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.get_port()}"

    def step(self, n: int = 1) -> None:
        """Advance the player `n` steps and show it; playing stops at the clip's end."""
        with self.lock:
            self.player.step(n)
            self.playing &= not self.player.finished
            self._show()

    def reset(self, clip: str | None = None, mode: str | None = None) -> None:
        """Restart at frame 0 (of another clip or goal mode)."""
        with self.lock:
            self.player.reset(clip, mode)
            self._show()

    def toggle(self) -> None:
        """Play or pause; play at the clip's end starts it again."""
        with self.lock:
            if not self.playing and self.player.finished:
                self.player.reset()
            self.playing = not self.playing
            self._show()

    def wait(self) -> None:
        """Serve until Ctrl-C."""
        try:
            while not self.stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.server.stop()

    def _run(self, period: float) -> None:
        deadline = time.monotonic()
        # never a zero wait: GUI callbacks waiting for the lock get their turn
        while not self.stopped.wait(max(1e-3, deadline - time.monotonic())):
            deadline = max(deadline + period, time.monotonic())  # late steps are not made up in a burst
            if self.playing:
                self.step()

    def _ground(self) -> None:
        floor = self.model.geom("floor").id
        if self.model.geom_type[floor] == mujoco.mjtGeom.mjGEOM_HFIELD:
            mesh = hfield_mesh(self.model, floor)
            self.server.scene.add_mesh_simple("/world/ground", mesh.vertices, mesh.faces,
                                              color=_rgb(self.model.geom_rgba[floor]), flat_shading=True)
        else:
            # translucent: where only the feet collide (env.contact=feet), a fallen humanoid sinks through it
            self.server.scene.add_grid("/world/ground", 40.0, 40.0, cell_size=0.5, section_size=2.0,
                                       plane_color=(235, 235, 235), plane_opacity=0.6)

    def _humanoid(self, root: str, rgba: tuple[float, ...] | None) -> dict[int, viser.FrameHandle]:
        """One scene frame per body under `root`, holding its geoms; colours the model's, or `rgba`."""
        model, frames = self.model, {}
        for body in range(1, model.nbody):
            frames[body] = self.server.scene.add_frame(f"{root}/{model.body(body).name}", show_axes=False)
        for geom in range(model.ngeom):
            body = model.geom_bodyid[geom]
            if body == 0:
                continue
            color = model.geom_rgba[geom] if rgba is None else rgba
            mesh = geom_mesh(model, geom)
            self.server.scene.add_mesh_simple(
                f"{root}/{model.body(body).name}/geom{geom}", mesh.vertices, mesh.faces,
                color=_rgb(color), opacity=None if color[3] >= 1 else float(color[3]),
                position=model.geom_pos[geom], wxyz=model.geom_quat[geom], cast_shadow=rgba is None)
        return frames

    def _gui(self) -> None:
        gui, player = self.server.gui, self.player
        self.play_button = gui.add_button("Play")
        step_button, restart = gui.add_button("Step"), gui.add_button("Restart")
        clip = gui.add_dropdown("clip", player.clips, initial_value=player.clip)
        mode = gui.add_dropdown("goals", MODES, initial_value=player.mode)
        steps = gui.add_slider("flow steps K", 1, max(32, player.flow_steps), 1, player.flow_steps)
        noise = gui.add_dropdown("x0", NOISES, initial_value=player.noise, hint="sampler start: 0 or random")
        self.follow = gui.add_checkbox("follow reference", True)
        self.texts = {name: gui.add_text(name, "", disabled=True) for name in ("frame", "error", "status")}
        self.play_button.on_click(lambda _: self.toggle())
        step_button.on_click(lambda _: self.step())
        restart.on_click(lambda _: self.reset())
        clip.on_update(lambda _: self.reset(clip=clip.value))
        mode.on_update(lambda _: self.reset(mode=mode.value))
        steps.on_update(lambda _: setattr(player, "flow_steps", int(steps.value)))
        noise.on_update(lambda _: setattr(player, "noise", noise.value))
        self.follow.on_update(lambda _: self.step(0))  # only re-poses

    def _show(self) -> None:
        """Pose both humanoids and refresh the texts (with the lock held)."""
        player = self.player
        with self.server.atomic():
            shift = -player.ref_qpos[:2] if self.follow.value else np.zeros(2)
            self.world.position = (*shift, 0.0)
            for name, qpos in (("humanoid", player.qpos), ("reference", player.ref_qpos)):
                self.data.qpos[:] = qpos
                mujoco.mj_kinematics(self.model, self.data)
                for body, frame in self.bodies[name].items():
                    frame.position, frame.wxyz = self.data.xpos[body].copy(), self.data.xquat[body].copy()
            self.texts["frame"].value = f"{player.frame} / {player.length - 1}"
            self.texts["error"].value = f"{player.error:.3f} m (fails above {player.limit:g} m)"
            self.texts["status"].value = player.status
            self.play_button.label = "Pause" if self.playing else "Play"
