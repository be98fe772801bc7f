"""Command line: thin wrappers that parse arguments, call the API and print."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from catlas.config import METHODS, PRESETS, merge_dicts, parse_override
from catlas.errors import CatlasError


def _fit(args: argparse.Namespace) -> int:
    from catlas.api import fit
    from catlas.train.loop import Interrupted

    overrides: dict[str, Any] = {}
    for text in args.set or []:
        overrides = merge_dicts(overrides, parse_override(text))
    if args.method:
        overrides = merge_dicts(overrides, {"loss": {"method": args.method}})
    if args.iterations is not None:
        overrides = merge_dicts(overrides, {"train": {"iterations": args.iterations}})
    if args.seed is not None:
        overrides = merge_dicts(overrides, {"train": {"seed": args.seed}})
    if args.device:
        overrides = merge_dicts(overrides, {"device": args.device})
    if args.resume:
        out = Path(args.resume)
        if args.input is not None:
            raise CatlasError("--resume takes the run folder; do not also give INPUT")
    else:
        if args.input is None or args.out is None:
            raise CatlasError("fit needs INPUT and --out RUN_DIR (or --resume RUN_DIR)")
        out = Path(args.out)
    try:
        run = fit(args.input, out, preset=args.preset, overrides=overrides, resume=bool(args.resume),
                  overwrite=args.overwrite, progress=not args.quiet)
    except Interrupted as e:
        print(f"catlas: {e}; continue with: catlas fit --resume {out}", file=sys.stderr)
        return 130
    print(f"wrote {run.path} (iteration {run.iteration}; meshes in {run.path / 'meshes'})")
    return 0


def _example(args: argparse.Namespace) -> int:
    from catlas.data import write_example

    write_example(Path(args.out), n_frames=args.frames, force=args.force)
    print(f"wrote the built-in example ({args.frames} frames) to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="catlas", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a temporally-coherent atlas to a sequence")
    f.add_argument("input", nargs="?", help="folder of frames (.ply .obj .off .xyz .txt .npy) or one (K,N,3) .npy/.npz")
    f.add_argument("--out", help="run folder to create")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    f.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    f.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    f.add_argument("--method", choices=METHODS, help="ours (default), atlasnet or dsr")
    f.add_argument("--iterations", type=int)
    f.add_argument("--seed", type=int)
    f.add_argument("--device", help="cpu, cuda, cuda:1 or auto")
    f.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override any setting, e.g. --set model.n_patches=25 (repeatable)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=_fit)

    e = sub.add_parser("example", help="write the built-in example sequence (a walking creature)")
    e.add_argument("out", help="folder to write the frames to")
    e.add_argument("--frames", type=int, default=24)
    e.add_argument("--force", action="store_true", help="replace the folder if it exists")
    e.set_defaults(func=_example)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, *a, **k: f"catlas: warning: {msg}\n"
    try:
        return args.func(args)
    except CatlasError as e:
        print(f"catlas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catlas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
