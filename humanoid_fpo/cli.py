"""`humanoid-fpo`: one command, with sub-commands.

  humanoid-fpo retarget INPUTS... -o FILE          clips (npz, bvh, folders) -> motion library
  humanoid-fpo motions list FILE                   the clips of a library, with their errors
  humanoid-fpo motions render FILE --clip NAME -o out.mp4|out.png
  humanoid-fpo motions fetch asap [--dest DIR]     the 33 ASAP clips (MIT), sha256-checked -> data/motions/
  humanoid-fpo teach LIBRARY [KEY=VALUE ...]       the MPPI teacher on every clip -> demonstrations, table
  humanoid-fpo train [KEY=VALUE ...]               train a tracker (Hydra overrides, configs/)
  humanoid-fpo eval RUN [--modes ...] [--noise ...] [--flow-steps ...]   success rate → RUN/eval/
  humanoid-fpo export RUN [-o DIR]                 policy.onnx, velocity.onnx with metadata
  humanoid-fpo render RUN --clip NAME [-o out.mp4|out.png]
                                                   the policy with a translucent reference ghost
  humanoid-fpo inspect RUN [RUN ...] --clip NAME --frame T --mode root -o actions.png
                                                   many actions sampled at one state, run beside run
  humanoid-fpo play RUN [--clip NAME] [--port P]   web viewer (viser) of the policy and its reference
  humanoid-fpo doctor                              versions, devices, the backend auto picks, rendering

RUN is a run folder (runs/<date>_<time>) or a checkpoint file; from a folder eval, export, render,
inspect and play load checkpoint.pt (the last), or best.pt (the best in-run evaluation) with
--checkpoint best, and say which in their first line.
"""

# Only light modules at the top: `--help` and a bad argument answer before JAX, MuJoCo or torch load;
# each command imports what it needs.

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from humanoid_fpo.learn.config import MAX_FLOW_STEPS
from humanoid_fpo.sim.config import ENGINES, MODES
from humanoid_fpo.util.atomic import check_output
from humanoid_fpo.util.interrupt import is_interrupt


def flow_steps(text: str) -> int:
    """argparse type of --flow-steps: a whole number of Euler steps, 1 to MAX_FLOW_STEPS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of Euler steps, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the sampler takes at least 1 Euler step, got {value}")
    if value > MAX_FLOW_STEPS:
        raise argparse.ArgumentTypeError(f"the sampler takes at most {MAX_FLOW_STEPS} Euler steps (each is a "
                                         f"pass of the velocity net per action; runs use 10), got {value}")
    return value


def whole(low: int, high: int | None = None, why: str = ""):
    """argparse type: an integer from `low` to `high` (None: no upper bound), else a one-line error
    saying why the bound is there (`why`)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"{low} to {high}"
            raise argparse.ArgumentTypeError(f"expected {bound}{why}, got {value}")
        return value
    return parse


IMAGE_SIZE = whole(16, 4096, " pixels (MuJoCo's offscreen buffer)")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_retarget(args: argparse.Namespace) -> int:
    check_output(args.output, "file", (".npz",))

    from humanoid_fpo.body.humanoid import ASSET_PATH, load_model
    from humanoid_fpo.motion.library import build_library, save_library
    from humanoid_fpo.motion.retarget import find_motion_files, load_joint_map, retarget_files

    model = load_model(args.model or ASSET_PATH)
    joint_map = load_joint_map(args.joint_map) if args.joint_map else None
    files = find_motion_files(args.inputs)
    if not files:
        print(f"error: no .npz or .bvh files in {', '.join(map(str, args.inputs))}", file=sys.stderr)
        return 1
    clips, rows = retarget_files(files, model, joint_map, workers=args.workers)
    print(format_table(["clip", "frames", "seconds", "fit cm", "contact cm", "status"], rows))
    if not clips:
        print("error: no clip could be retargeted; nothing written", file=sys.stderr)
        return 1
    save_library(build_library(clips, model), args.output)
    print(f"wrote {args.output}: {_count(len(clips), 'clip')}, {len(files) - len(clips)} skipped")
    return 0


def cmd_motions_list(args: argparse.Namespace) -> int:
    from humanoid_fpo.motion.library import load_library

    lib = load_library(args.library)
    rows = [[n, int(lib.clip_length[i]), f"{lib.durations[i]:.2f}", f"{100 * lib.fit_error[i]:.2f}",
             f"{100 * lib.contact_error[i]:.2f}", s]
            for i, (n, s) in enumerate(zip(lib.clip_names, lib.clip_sources))]
    print(format_table(["clip", "frames", "seconds", "fit cm", "contact cm", "source"], rows))
    return 0


def cmd_motions_render(args: argparse.Namespace) -> int:
    check_output(args.output, "file", (".mp4", ".png"))

    from humanoid_fpo.body.humanoid import ASSET_PATH, load_model
    from humanoid_fpo.motion.library import load_library
    from humanoid_fpo.view.render import write_render

    model = load_model(args.model or ASSET_PATH)
    lib = load_library(args.library, model)
    if args.clip not in lib.clip_names:
        print(f"error: {args.library}: no clip {args.clip!r}; it has: {', '.join(lib.clip_names)}",
              file=sys.stderr)
        return 1
    c = lib.clip_names.index(args.clip)
    start = lib.clip_start[c]
    qpos = lib.qpos[start:start + lib.clip_length[c]].astype(float)
    notes = [args.clip] * len(qpos)
    print(f"wrote {write_render(model, qpos, lib.fps, args.output, args.width, args.height, notes=notes)}")
    return 0


def cmd_motions_fetch(args: argparse.Namespace) -> int:
    if args.dest:
        check_output(args.dest, "dir")
    from humanoid_fpo.motion.fetch import fetch, load_source

    fetch(load_source(args.source), args.dest, args.base_url, args.from_dir)
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    from humanoid_fpo.run.config import check_config, compose

    cfg, _ = compose(args.overrides)
    check_config(cfg)
    check_output(cfg.teacher.cache, "dir")
    from humanoid_fpo.motion.library import load_motions
    from humanoid_fpo.run.prepare import with_default_pose
    from humanoid_fpo.sim.env import use_jax_cache
    from humanoid_fpo.teacher.teach import clip_table, summary, teach

    use_jax_cache(cfg.jax_cache)  # the rollouts' compile, as train and eval keep theirs
    library = load_motions(args.library, cfg.env.model_path)
    cfg = with_default_pose(cfg, library)  # the action transform the trainer will use
    demos, path = teach(library, cfg.env, cfg.teacher)
    print(format_table(*clip_table(demos, library.clip_length)))
    s = summary(demos)
    print(f"completed {s['completed']} of {s['clips']} clips, {s['frames']:.1f} frames per clip, "
          f"G-MPJPE {s['g_mpjpe_mm']:.0f} mm, {s['minutes']:.1f} min of teaching; {demos.steps} steps "
          f"in {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from humanoid_fpo.run.config import check_config, check_device, compose

    cfg = compose(args.overrides)[0]
    check_config(cfg)  # a bad setting is one line, before torch and JAX load
    if cfg.run_dir:
        check_output(cfg.run_dir, "dir")
    check_device(cfg.device)
    from humanoid_fpo.run import train

    train.main(args.overrides)
    return 0


class _TrainHelp(argparse.Action):
    """`train --help`: the usage, then the config groups and keys (composed only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from humanoid_fpo.run.config import help_text

        parser.epilog = help_text()
        parser.print_help()
        parser.exit()


def _options(args: argparse.Namespace):
    """The EvalOptions of the env flags (`_add_env_options`)."""
    from humanoid_fpo.evaluate import EvalOptions

    types = tuple(args.terrain.split(",")) if args.terrain else None
    return EvalOptions(args.motions, types, args.terrain_seed, args.terrain_level, args.backend,
                       args.randomised)


def _check_inputs(args: argparse.Namespace, kind: str | None = None, suffixes: tuple[str, ...] = ()) -> None:
    """What a command that loads a run checks before it loads: its -o path (a `kind` there) and --device."""
    from humanoid_fpo.run.config import check_device

    if kind and args.output:
        check_output(args.output, kind, suffixes)
    check_device(args.device, "--device")


def _trained_env(args: argparse.Namespace, run: Path | None = None):
    """The policy of `run` (default: args.run) on --device and its eval-protocol env under the env flags."""
    from humanoid_fpo.evaluate import eval_env, load_policy

    trained = load_policy(run or args.run, args.device, args.checkpoint)
    print(f"{args.command}: {trained.describe()}")
    return trained, eval_env(trained, _options(args))


def cmd_eval(args: argparse.Namespace) -> int:
    _check_inputs(args, "dir")

    from humanoid_fpo.evaluate import evaluate_and_save

    evaluate_and_save(args.run, _options(args), args.modes, args.noise, args.flow_steps, args.seed,
                      args.device, args.output, args.checkpoint)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output, "dir")

    from humanoid_fpo.run.checkpoint import load_trained, run_folder
    from humanoid_fpo.export import export

    trained = load_trained(args.run, which=args.checkpoint)
    print(f"exporting {trained.describe()}")
    out = args.output or run_folder(args.run) / "export"
    for path in export(trained.learner, trained.cfg.env, out, args.flow_steps):
        print(f"wrote {path}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    _check_inputs(args, "file", (".mp4", ".png"))

    import jax

    from humanoid_fpo.run.checkpoint import run_folder
    from humanoid_fpo.evaluate import record_clip
    from humanoid_fpo.view.render import write_render
    from humanoid_fpo.sim.terrain import ground_caption

    trained, env = _trained_env(args)
    names = env.library.clip_names
    if args.clip not in names:
        print(f"error: {args.run}: no clip {args.clip!r}; it has: {', '.join(names)}", file=sys.stderr)
        return 1
    steps = args.flow_steps or trained.cfg.eval_flow_steps
    act = lambda obs: trained.learner.eval_action(obs.to(trained.learner.device), steps)
    mode = args.mode or trained.cfg.env.conditioning
    result = record_clip(env, act, jax.random.key(0), names.index(args.clip), mode, args.play_on)
    clip = result["clips"][args.clip]
    failed_at = None if clip["success"] else clip["frames"]
    notes = [f"{args.clip} ({mode} goals)  error {e:.2f} m" for e in result["error"]]
    if env.cfg.terrain.types != ("flat",):  # what a failure on terrain turns on: the ground underfoot
        notes = [f"{note}\n{ground_caption(env.cfg.terrain, qpos[:2], args.terrain_level)}"
                 for note, qpos in zip(notes, result["qpos"])]
    if failed_at is not None:
        notes[failed_at:] = [f"{n}\nfailed at frame {failed_at}" for n in notes[failed_at:]]
    out = args.output or run_folder(args.run) / f"{args.clip}.mp4"
    write_render(env.mj_model, result["qpos"], env.library.fps, out, args.width, args.height,
                 ghost=result["ref_qpos"], notes=notes, failed_at=failed_at)
    print(f"wrote {out}: {len(result['qpos'])} frames; tracked {clip['frames']}, "
          f"{'success' if clip['success'] else 'failed'}, G-MPJPE {clip['g_mpjpe_mm']:.0f} mm")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    _check_inputs(args, "file", (".png", ".pdf", ".svg"))

    import numpy as np

    from humanoid_fpo.view.inspect import plot_action_samples, reference_observation, sample_actions
    from humanoid_fpo.run.checkpoint import run_folder

    columns, names = [], None
    for run in args.runs:
        trained, env = _trained_env(args, run)
        names = [env.mj_model.joint(i).name for i in range(1, env.mj_model.njnt)]
        missing = [j for j in args.joints if j not in names]
        if missing:
            raise ValueError(f"{run}: no joint {missing[0]!r}; joints: {', '.join(names)}")
        mode = args.mode or trained.cfg.env.conditioning
        obs, base = reference_observation(env, args.clip, args.frame, mode)
        actions = sample_actions(trained.learner, obs, args.samples, args.seed)
        angles = base + np.asarray(env.action_scale) * np.clip(actions, -1, 1)
        label = f"{run_folder(run).name} ({trained.cfg.algo.policy}, it {trained.iteration})"
        columns.append((label, angles))
    joints = tuple(names.index(j) for j in args.joints)
    goals = f"{args.mode} goals" if args.mode else "each run's goals"
    title = f"{args.samples} actions at {args.clip} frame {args.frame}, {goals}"
    stats = plot_action_samples(columns, joints, tuple(args.joints), args.output, title)
    rows = [[s["run"], f"{s['spread_rad']:.4f}", f"{s['pc1_share']:.2f}", f"{s['pc1_bimodality']:.2f}"]
            for s in stats]
    print(format_table(["run", "spread rad", "PC1 share", "PC1 bimodality"], rows))
    print(f"wrote {args.output}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    try:
        from humanoid_fpo.view.play import Player, Viewer, check_port
    except ModuleNotFoundError as e:
        if e.name != "viser":
            raise
        print("error: the viewer needs viser: pip install -e .[viewer]", file=sys.stderr)
        return 1
    from humanoid_fpo.evaluate import load_policy

    check_port(args.host, args.port)  # before loading the run
    _check_inputs(args)
    trained = load_policy(args.run, args.device, args.checkpoint)
    names = trained.library.clip_names
    if args.clip and args.clip not in names:
        print(f"error: {args.run}: no clip {args.clip!r}; it has: {', '.join(names)}", file=sys.stderr)
        return 1
    steps = args.flow_steps or trained.cfg.eval_flow_steps or trained.cfg.algo.flow_steps
    player = Player(trained.cfg.env, trained.library, trained.learner, steps,
                    args.mode or trained.cfg.env.conditioning, args.clip)
    viewer = Viewer(player, args.host, args.port)
    print(f"playing {trained.describe()} at {viewer.url}; Ctrl-C stops")
    try:
        viewer.wait()
    finally:
        viewer.stop()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from humanoid_fpo.doctor import checks

    print(format_table(["check", "finding"], [list(row) for row in checks()]))
    return 0


def _add_checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="a run folder's checkpoint: last (checkpoint.pt, the default) or best (best.pt, the "
                        "best in-run evaluation's)")


def _add_env_options(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("runs", nargs="+", type=Path, help="run folders or checkpoints, one column each")
    else:
        p.add_argument("run", type=Path, help="run folder or a checkpoint file")
    _add_checkpoint_option(p)
    p.add_argument("--terrain", help="terrain types, comma-separated (flat,rough,slopes,waves,steps); "
                                     "default: the run's")
    p.add_argument("--terrain-seed", type=int, help="heightfield seed (not the run's: unseen terrain)")
    p.add_argument("--terrain-level", type=whole(0), help="one fixed difficulty (default: the run's start levels)")
    p.add_argument("--motions", type=Path, help="motion library or clips (default: the run's motions.npz)")
    p.add_argument("--backend", choices=(*ENGINES, "auto"),
                   help="physics: mjx, native (MuJoCo C, CPU threads), warp (MJX's Warp implementation) or "
                        "auto; default: the run's")
    p.add_argument("--randomised", action="store_true",
                   help="each clip's friction, masses and gains drawn from the run's training ranges "
                        "(env.randomize; seeded), the protocol otherwise unchanged")
    p.add_argument("--device", default="cpu", help="torch device of the policy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="humanoid-fpo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error "
                        "(also HUMANOID_FPO_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("retarget", help="retarget clips (npz, bvh, folders) into a motion library")
    p.add_argument("inputs", nargs="+", type=Path, help="motion files or folders")
    p.add_argument("-o", "--output", type=Path, required=True, help="motion library (.npz)")
    p.add_argument("--model", type=Path, help="humanoid MJCF (default: assets/humanoid.xml)")
    p.add_argument("--joint-map", type=Path, help="BVH joint map (json); default: a built-in one")
    p.add_argument("--workers", type=whole(0), default=1,
                   help="processes retargeting in parallel (0: one per core; pays from hundreds of clips)")
    p.set_defaults(func=cmd_retarget)

    motions = sub.add_parser("motions", help="inspect a motion library; fetch published clips")
    motions = motions.add_subparsers(dest="motions_command", required=True)
    p = motions.add_parser("list", help="list the clips of a library")
    p.add_argument("library", type=Path)
    p.set_defaults(func=cmd_motions_list)
    p = motions.add_parser("render", help="render a clip headless to .mp4 or a .png contact sheet")
    p.add_argument("library", type=Path)
    p.add_argument("--clip", required=True)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--model", type=Path, help="humanoid MJCF (default: assets/humanoid.xml)")
    p.add_argument("--width", type=IMAGE_SIZE, default=640)
    p.add_argument("--height", type=IMAGE_SIZE, default=480)
    p.set_defaults(func=cmd_motions_render)
    p = motions.add_parser("fetch", help="download published clips at a pinned commit, each checked by "
                                         "sha256 (resumes; --from installs from a local folder offline)")
    p.add_argument("source", help="which clips: asap")
    p.add_argument("--dest", type=Path, metavar="DIR", help="folder (default: the one motions=SOURCE reads, "
                                                           "data/motions/...)")
    p.add_argument("--base-url", metavar="URL",
                   help="a mirror of the pinned commit (default: raw.githubusercontent.com)")
    p.add_argument("--from", dest="from_dir", type=Path, metavar="DIR",
                   help="install from a local folder holding the files, with the same checks")
    p.set_defaults(func=cmd_motions_fetch)

    p = sub.add_parser("teach", help="run the sampling-based teacher (MPPI) on every clip: which clips this "
                                     "body can perform, and demonstrations for a student (cached, resumable)")
    p.add_argument("library", type=Path, help="motion library (.npz) or clip files/folder")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE as for train: teacher.horizon=30 teacher.runs=2 "
                   "env.* preset=...")
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("train", add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="train a tracker; Hydra overrides such as algo=ppo conditioning=root "
                            "preset=gpu motions.path=DIR run_dir=DIR resume=RUN_DIR")
    p.add_argument("-h", "--help", action=_TrainHelp, help="show the config groups and frequent keys")
    p.add_argument("overrides", nargs="*", help="GROUP=OPTION and KEY=VALUE overrides of configs/train.yaml")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="success rate, G-MPJPE, MPJPE, accel error per clip and overall, "
                                    "over modes, sampler noise and flow steps")
    _add_env_options(p)
    p.add_argument("--modes", nargs="+", choices=MODES, help="goal modes (default: the run's conditioning)")
    p.add_argument("--noise", nargs="+", choices=("zero", "random"), default=["zero"],
                   help="sampler start: x0 = 0, or x0 drawn as in rollouts")
    p.add_argument("--flow-steps", nargs="+", type=flow_steps, help="Euler steps K (default: the run's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, help="folder for results.json/.md (default: RUN/eval/<clips and "
                                                        "settings>, one folder per evaluation setting)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="ONNX policy (normaliser + K Euler steps) and velocity net, "
                                      "with metadata")
    p.add_argument("run", type=Path, help="run folder or a checkpoint file")
    _add_checkpoint_option(p)
    p.add_argument("-o", "--output", type=Path, help="folder (default: RUN/export)")
    p.add_argument("--flow-steps", type=flow_steps, help="Euler steps in policy.onnx (default: the run's)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("render", help="video (.mp4) or contact sheet (.png) of the policy on a clip beside a "
                                      "translucent reference ghost")
    _add_env_options(p)
    p.add_argument("--clip", required=True)
    p.add_argument("--mode", choices=MODES, help="goal mode (default: the run's conditioning)")
    p.add_argument("--flow-steps", type=flow_steps)
    p.add_argument("-o", "--output", type=Path, help=".mp4 or .png (default: RUN/<clip>.mp4)")
    p.add_argument("--width", type=IMAGE_SIZE, default=640)
    p.add_argument("--height", type=IMAGE_SIZE, default=480)
    p.add_argument("--continue", dest="play_on", action="store_true",
                   help="keep playing after a failure to the clip's end (frames from the failure on in red)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("inspect", help="many actions sampled at one reference state (flow: many x0; "
                                       "Gaussian: many draws), on two joints and two principal components")
    _add_env_options(p, many=True)
    p.add_argument("--clip", required=True)
    p.add_argument("--frame", type=whole(0), required=True, help="control step into the clip (30 fps)")
    p.add_argument("--mode", choices=MODES, help="goal mode (default: each run's conditioning)")
    p.add_argument("--joints", nargs=2, default=["L_Hip_y", "R_Hip_y"], help="two joints to draw "
                   "(default: left and right hip flexion)")
    p.add_argument("--samples", type=whole(1, 65536, " actions (each column's samples are drawn and plotted at "
                                                    "once)"), default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help=".png")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("play", help="web viewer (viser) of the policy beside its translucent reference, "
                                    "physics on the CPU; needs pip install -e .[viewer]")
    p.add_argument("run", type=Path, help="run folder or a checkpoint file")
    _add_checkpoint_option(p)
    p.add_argument("--clip", help="the clip shown first (default: the library's first)")
    p.add_argument("--mode", choices=MODES, help="goal mode (default: the run's conditioning)")
    p.add_argument("--flow-steps", type=flow_steps, help="Euler steps K (default: the run's)")
    p.add_argument("--port", type=whole(0, 65535), default=8080,
                   help="HTTP port (default 8080; one in use is an error; 0: any free one, printed)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only, e.g. through an ssh "
                        "tunnel; 0.0.0.0: every interface, anyone on the network)")
    p.add_argument("--device", default="cpu", help="torch device of the policy")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("doctor", help="versions, the devices JAX and torch see, the physics backend "
                                      "env.backend=auto picks, whether headless rendering works")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command: an error it expects is one line and code 1, Ctrl-C one line and code 130. From
    the command line (argv None) an interrupted process leaves at once (`os._exit`): JAX's compiler
    and MuJoCo's threads may still be running, and tearing the interpreter down under them crashed."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BaseException as e:  # MotionFileError is a ValueError
        expected = isinstance(e, (ValueError, FileExistsError, FileNotFoundError, FloatingPointError))
        if not (expected or is_interrupt(e)) or args.debug or os.environ.get("HUMANOID_FPO_DEBUG"):
            raise
        if not is_interrupt(e):
            print(f"error: {e}", file=sys.stderr)
            return 1
        if argv is None:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not break the line
        message = str(e) if isinstance(e, KeyboardInterrupt) else ""
        print(message or f"interrupted: {args.command} did not finish; its files are written whole or not "
                         f"at all", file=sys.stderr)
        if argv is None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
