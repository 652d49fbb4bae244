"""`humanoid-fpo`: one command, with sub-commands.

  humanoid-fpo retarget INPUTS... -o FILE          clips (npz, bvh, folders) -> motion library
  humanoid-fpo motions list FILE                   the clips of a library, with their errors
  humanoid-fpo motions render FILE --clip NAME -o out.mp4|out.png
  humanoid-fpo train [KEY=VALUE ...]               train a tracker (Hydra overrides, configs/)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from humanoid_fpo.humanoid import ASSET_PATH, load_model
from humanoid_fpo.motion.library import build_library, load_library, save_library
from humanoid_fpo.motion.retarget import find_motion_files, load_joint_map, retarget_files
from humanoid_fpo.motion.source import MotionFileError

def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_retarget(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    joint_map = load_joint_map(args.joint_map) if args.joint_map else None
    files = find_motion_files(args.inputs)
    if not files:
        print(f"error: no .npz or .bvh files in {', '.join(map(str, args.inputs))}", file=sys.stderr)
        return 1
    clips, rows = retarget_files(files, model, joint_map)
    print(format_table(["clip", "frames", "seconds", "fit cm", "contact cm", "status"], rows))
    if not clips:
        print("error: no clip could be retargeted; nothing written", file=sys.stderr)
        return 1
    save_library(build_library(clips, model), args.output)
    print(f"wrote {args.output}: {len(clips)} clips, {len(files) - len(clips)} skipped")
    return 0


def cmd_motions_list(args: argparse.Namespace) -> int:
    lib = load_library(args.library)
    rows = [[n, int(lib.clip_length[i]), f"{lib.durations[i]:.2f}", f"{100 * lib.fit_error[i]:.2f}",
             f"{100 * lib.contact_error[i]:.2f}", s]
            for i, (n, s) in enumerate(zip(lib.clip_names, lib.clip_sources))]
    print(format_table(["clip", "frames", "seconds", "fit cm", "contact cm", "source"], rows))
    return 0


def cmd_motions_render(args: argparse.Namespace) -> int:
    from humanoid_fpo.render import write_render  # needs OpenGL: import only when rendering

    model = load_model(args.model)
    lib = load_library(args.library, model)
    if args.clip not in lib.clip_names:
        print(f"error: {args.library}: no clip {args.clip!r}; it has: {', '.join(lib.clip_names)}",
              file=sys.stderr)
        return 1
    c = lib.clip_names.index(args.clip)
    start = lib.clip_start[c]
    qpos = lib.qpos[start:start + lib.clip_length[c]].astype(float)
    print(f"wrote {write_render(model, qpos, lib.fps, args.output, args.width, args.height)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from humanoid_fpo import train  # imports torch and the env: only for this command

    train.main(args.overrides)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="humanoid-fpo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("retarget", help="retarget clips (npz, bvh, folders) into a motion library")
    p.add_argument("inputs", nargs="+", type=Path, help="motion files or folders")
    p.add_argument("-o", "--output", type=Path, required=True, help="motion library (.npz)")
    p.add_argument("--model", type=Path, default=ASSET_PATH, help="humanoid MJCF")
    p.add_argument("--joint-map", type=Path, help="BVH joint map (json); default: a built-in one")
    p.set_defaults(func=cmd_retarget)

    motions = sub.add_parser("motions", help="inspect a motion library").add_subparsers(
        dest="motions_command", required=True)
    p = motions.add_parser("list", help="list the clips of a library")
    p.add_argument("library", type=Path)
    p.set_defaults(func=cmd_motions_list)
    p = motions.add_parser("render", help="render a clip headless to .mp4 or a .png contact sheet")
    p.add_argument("library", type=Path)
    p.add_argument("--clip", required=True)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--model", type=Path, default=ASSET_PATH, help="humanoid MJCF")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.set_defaults(func=cmd_motions_render)

    p = sub.add_parser("train", help="train a tracker; Hydra overrides such as algo=ppo conditioning=root "
                                     "preset=gpu motions.path=DIR run_dir=DIR resume=RUN_DIR")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of configs/train.yaml")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (MotionFileError, ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
