"""The `humanoid-fpo` command: retarget (with bad clips among good ones), list, render."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from humanoid_fpo.cli import main
from humanoid_fpo.motion.library import load_library

from conftest import BUILTIN_MOTIONS


@pytest.fixture(scope="module")
def library_file(tmp_path_factory) -> Path:
    """A library of two built-in clips, made by the CLI from a folder that also holds bad clips."""
    folder = tmp_path_factory.mktemp("clips")
    for name in ("stand", "squat"):
        shutil.copy(BUILTIN_MOTIONS / f"{name}.npz", folder)
    np.savez(folder / "broken.npz", poses=np.zeros((4, 72)), mocap_framerate=30)  # no trans
    (folder / "truncated.bvh").write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n")
    out = folder / "out" / "lib.npz"
    assert main(["retarget", str(folder), "-o", str(out)]) == 0
    return out


def test_retarget_skips_bad_clips_and_writes_the_rest(library_file: Path, capsys) -> None:
    lib = load_library(library_file)
    assert lib.clip_names == ("squat", "stand") and lib.fps == 30.0


def test_retarget_reports_each_clip(tmp_path: Path, capsys) -> None:
    shutil.copy(BUILTIN_MOTIONS / "stand.npz", tmp_path)
    (tmp_path / "empty.bvh").write_text("")
    (tmp_path / "notes.npz").write_text("a text file renamed")
    np.savez(tmp_path / "other.npz", trans=np.zeros((3, 3)))
    files = [str(tmp_path / f) for f in ("stand.npz", "empty.bvh", "notes.npz", "other.npz")]
    assert main(["retarget", *files, "-o", str(tmp_path / "lib.npz")]) == 0
    out = capsys.readouterr().out
    assert "stand" in out and "ok" in out
    assert "empty" in out and "skipped: " in out and "empty.bvh: no HIERARCHY section" in out
    assert "notes.npz: not a NumPy .npz archive" in out and "other.npz: npz without poses" in out
    assert "1 clip, 3 skipped" in out  # not "1 clips"


def test_retarget_names_a_library_passed_as_a_clip(library_file: Path, tmp_path: Path, capsys) -> None:
    """It used to say "npz without poses"."""
    assert main(["retarget", str(library_file), "-o", str(tmp_path / "lib.npz")]) == 1
    assert f"{library_file}: already a motion library (made by retarget), not a clip" in capsys.readouterr().out


def test_retarget_with_no_good_clip_writes_nothing(tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "bad.npz", trans=np.zeros((3, 3)))
    assert main(["retarget", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "lib.npz")]) == 1
    assert "bad.npz: npz without poses" in capsys.readouterr().out
    assert not (tmp_path / "lib.npz").exists()


def test_motions_list(library_file: Path, capsys) -> None:
    assert main(["motions", "list", str(library_file)]) == 0
    out = capsys.readouterr().out
    assert "squat" in out and "stand.npz" in out


def test_motions_list_refuses_a_library_with_nan(library_file: Path, tmp_path: Path, capsys) -> None:
    arrays = dict(np.load(library_file, allow_pickle=False))
    arrays["qvel"][0, 0] = np.inf
    np.savez(tmp_path / "nan.npz", **arrays)
    assert main(["motions", "list", str(tmp_path / "nan.npz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'nan.npz'}: qvel holds NaN or inf (frame 0 of clip ")


def test_render_contact_sheet_and_video(library_file: Path, tmp_path: Path) -> None:
    png, mp4 = tmp_path / "squat.png", tmp_path / "stand.mp4"
    assert main(["motions", "render", str(library_file), "--clip", "squat", "-o", str(png),
                 "--height", "144"]) == 0
    sheet = imageio.imread(png)
    assert sheet.shape == (288, 384, 3) and sheet.std() > 5  # 8 frames of 96x144, 4 per row, not blank
    tiles = sheet.reshape(2, 144, 4, 96, 3).transpose(0, 2, 1, 3, 4).reshape(8, 144, 96, 3)
    label, sky = tiles[:, :14, :40].max(-1), tiles[:, 20:30, 84:].max(-1)  # sky: right of the caption
    assert ((label > 200).any((1, 2)) & (label < 20).any((1, 2))).all(), "white text on black in each"
    assert (sky > 20).all(), "the floor fills the frame: no black sky above the horizon"
    assert main(["motions", "render", str(library_file), "--clip", "stand", "-o", str(mp4),
                 "--width", "48", "--height", "48"]) == 0
    with warnings.catch_warnings():  # reading it back starts ffmpeg (fork, exec), not JAX's concern
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        frames = imageio.mimread(mp4)
    assert len(frames) == load_library(library_file).clip_length[1]


def test_motions_render_captions_name_the_clip(library_file: Path, tmp_path: Path, monkeypatch) -> None:
    import humanoid_fpo.view.render

    seen = {}
    monkeypatch.setattr(humanoid_fpo.view.render, "write_render", lambda *a, **k: seen.update(k) or a[3])
    assert main(["motions", "render", str(library_file), "--clip", "squat", "-o", str(tmp_path / "x.png")]) == 0
    assert seen["notes"] and set(seen["notes"]) == {"squat"}


def test_render_help_names_both_outputs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("render "))
    assert ".mp4" in line and ".png" in line


def test_render_unknown_clip(library_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["motions", "render", str(library_file), "--clip", "moonwalk",
                 "-o", str(tmp_path / "x.mp4")]) == 1
    assert "no clip 'moonwalk'; it has: squat, stand" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("command", [["eval", "RUN", "--flow-steps", "2"], ["export", "RUN"], ["render", "RUN", "--clip", "x"],
                                     ["play", "RUN"]])
@pytest.mark.parametrize("steps", ["0", "-1", "two"])
def test_flow_steps_below_one_are_a_one_line_error(command: list[str], steps: str, capsys) -> None:
    """K < 1 used to mean the run's K (0) or a policy without a network (-1), with exit code 0."""
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--flow-steps", steps])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--flow-steps" in err.splitlines()[-1]
    assert "at least 1 Euler step" in err or "whole number" in err


def test_doctor_names_the_devices_and_the_backend(capsys) -> None:
    import jax

    assert main(["doctor"]) == 0
    header, _, *lines = capsys.readouterr().out.splitlines()
    at = header.index("finding")
    rows = {line[:at].strip(): line[at:].strip() for line in lines}
    backend = jax.default_backend()
    assert rows["JAX devices"].startswith(backend) and rows["torch devices"].startswith("cpu")
    assert rows["env.backend=auto"].startswith("mjx" if backend == "gpu" else "native")
    assert rows["rendering"].startswith("ok") and rows["mujoco"] == rows["mujoco-mjx"]
    import torch

    from humanoid_fpo.learn.learner import cpu_bf16, resolve_precision

    features = cpu_bf16()
    assert rows["CPU bf16"] == ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items())
    picked = resolve_precision("auto", torch.device("cuda" if torch.cuda.is_available() else "cpu"), "flow")
    assert rows["algo.precision=auto"].startswith(f"{picked} for the flow policy, fp32 for ppo (")


@pytest.mark.parametrize("argv, problem", [
    (["render", "RUN", "--clip", "x", "-o", "/proc/x.png"], "/proc/x.png: cannot write in /proc"),
    (["render", "RUN", "--clip", "x", "-o", "DIR"], "DIR: is a folder; name a file in it"),
    (["eval", "RUN", "-o", "FILE"], "FILE: is a file; expected a folder"),
    (["export", "RUN", "-o", "FILE"], "FILE: is a file; expected a folder"),
    (["retarget", "DIR", "-o", "DIR"], "DIR: is a folder; name a file in it"),
    (["retarget", "DIR", "-o", "FILE/out.npz"], "FILE/out.npz: FILE is a file, not a folder"),
    (["retarget", "DIR", "-o", "DIR/lib.txt"], "DIR/lib.txt: expected a .npz file"),
    (["motions", "render", "FILE", "--clip", "x", "-o", "DIR/x.gif"], "DIR/x.gif: expected a .mp4 or .png file"),
    (["inspect", "RUN", "--clip", "x", "--frame", "0", "-o", "DIR"], "DIR: is a folder; name a file in it")])
def test_output_paths_are_checked_before_the_work(argv: list[str], problem: str, tmp_path: Path, capsys) -> None:
    """Each used to fail after the work (render after 40 s, eval after the whole evaluation) or as a
    traceback; RUN does not exist here, so an answer about the output came before loading it."""
    (tmp_path / "file").write_text("not a folder")
    names = {"RUN": str(tmp_path / "no_run"), "DIR": str(tmp_path), "FILE": str(tmp_path / "file")}
    fill = lambda text: text.replace("FILE", names["FILE"]).replace("DIR", names["DIR"]).replace("RUN", names["RUN"])
    assert main([fill(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {fill(problem)}") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"], "nothing written"


@pytest.mark.parametrize("argv, reason", [
    (["eval", "RUN", "--flow-steps", "1000000"], "at most 256 Euler steps (each is a pass of the velocity net"),
    (["export", "RUN", "--flow-steps", "2000"], "at most 256 Euler steps"),
    (["inspect", "RUN", "--clip", "x", "--frame", "0", "-o", "a.png", "--samples", "0"], "expected 1 to 65536 actions"),
    (["render", "RUN", "--clip", "x", "--width", "0"], "expected 16 to 4096 pixels"),
    (["retarget", "x", "-o", "a.npz", "--workers", "-1"], "expected at least 0")])
def test_counts_are_bounded_with_a_reason(argv: list[str], reason: str, capsys) -> None:
    """--flow-steps 1000000 and --samples 0 used to run for minutes or end in a traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and reason in capsys.readouterr().err.splitlines()[-1]


def test_a_cuda_device_without_cuda_is_one_line_before_loading(tmp_path: Path, monkeypatch, capsys) -> None:
    """`eval --device cuda` on a CPU-only machine used to call a good checkpoint unreadable."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["eval", str(tmp_path / "no_run"), "--device", "cuda"]) == 1
    assert capsys.readouterr().err == (f"error: --device cuda requested but torch sees no CUDA device "
                                       f"(torch {torch.__version__}, "
                                       f"{'CPU build?' if torch.version.cuda is None else f'built for CUDA {torch.version.cuda}'})\n")
