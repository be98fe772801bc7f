"""Command line: thin wrappers that parse arguments, call the API and print.

The text users see is in :data:`DESCRIPTION`, :data:`EXAMPLES` and each subcommand's help."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml

from catlas.config import MAX_COUNT, METHODS, PRESETS, merge_dicts, method_name, parse_override
from catlas.data.degrade import DEFAULT_POINTS as DEGRADE_POINTS
from catlas.data.degrade import KINDS as DEGRADE_KINDS
from catlas.data.synthetic import KINDS as EXAMPLE_KINDS
from catlas.data.synthetic import MAX_EXAMPLE_FRAMES
from catlas.errors import CatlasError
from catlas.runfiles import EVAL_DIR, METRICS_FILE, RENDER_DIR, TRACKED_MESH_DIR

DESCRIPTION = """\
catlas reconstructs the surface of one deforming object from a sequence of point clouds. It fits
one multi-patch atlas to the whole sequence, so every frame's mesh has the same vertices, faces and
texture coordinates: dense correspondences between any two frames, without templates or labels."""

EXAMPLES = """\
examples:
  catlas example runs/example                            # write a built-in example sequence
  catlas fit runs/example --out runs/demo --preset demo  # fit it (meshes in runs/demo/meshes)
  catlas export runs/demo --format glb                   # one animated GLB of the surface
  catlas correspond runs/demo --from 0 --to 12 --out corr.csv

'catlas COMMAND --help' describes a command's options."""

PUBLIC_PRESETS = ("fast", "paper", "demo")
"""The presets shown in help; ``tiny`` (for tests) is accepted but not listed."""

DEVICE_HELP = ("auto (default: cuda when this machine has a CUDA GPU, else cpu), cpu, cuda or "
               "cuda:N")


def _preset(name: str) -> str:
    """argparse type of --preset: any preset, with only the public ones named when it is unknown."""
    if name not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown preset {name!r} (choose from "
                                         f"{', '.join(PUBLIC_PRESETS)})")
    return name


def _command(sub: Any, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand whose help ends with the given example lines."""
    return sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".",
                          epilog="examples:\n" + examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _fit(args: argparse.Namespace) -> int:
    from catlas.api import fit
    from catlas.train.loop import Interrupted

    overrides: dict[str, Any] = {}
    for text in args.set or []:
        overrides = merge_dicts(overrides, parse_override(text))
    if args.method:
        overrides = merge_dicts(overrides, {"loss": {"method": args.method}})
    if args.iterations is not None:
        if not 1 <= args.iterations <= MAX_COUNT:
            raise CatlasError(f"--iterations must be an integer in [1, {MAX_COUNT:_}], got {args.iterations}")
        overrides = merge_dicts(overrides, {"train": {"iterations": args.iterations}})
    if args.minutes is not None:
        if args.resume:
            raise CatlasError("--minutes sets the budget of a new fit; to extend a run, give --iterations")
        overrides = merge_dicts(overrides, {"train": {"minutes": args.minutes}})
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

    write_example(Path(args.out), n_frames=args.frames, force=args.force, kind=args.kind)
    print(f"wrote the built-in example {args.kind} ({args.frames} frames) to {args.out}")
    return 0


def _degrade(args: argparse.Namespace) -> int:
    from catlas.data.degrade import FRAMES_DIR, GT_DIR, META_FILE, write_degraded

    info = write_degraded(args.input, args.out, args.kind, args.level, seed=args.seed,
                          n_points=args.points, up=args.up, drift=args.drift, force=args.force)
    out = Path(args.out)
    what = "meshes" if args.kind == "motion" else f"point clouds of up to {args.points} points"
    print(f"wrote {info['n_frames']} {args.kind} frames ({what}) to {out / FRAMES_DIR}, the GT "
          f"meshes to {out / GT_DIR}, and {out / META_FILE}")
    return 0


def _correspond(args: argparse.Namespace) -> int:
    from catlas.correspond import read_query_points, write_correspondence
    from catlas.run import load_run

    out = Path(args.out)
    if out.suffix.lower() not in (".npz", ".csv"):
        raise CatlasError(f"{out.name}: --out must end in .npz or .csv")
    run = load_run(args.run_dir, device=args.device)
    points = read_query_points(args.points) if args.points else None
    c = run.correspond(args.src, args.dst, points, n_samples=args.samples)
    write_correspondence(out, c)
    print(f"wrote {len(c.indices)} correspondences frame {args.src} -> {args.dst} to {out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from catlas.evaluate import EvalSettings, evaluate, load_gt
    from catlas.evaluate.protocol import check_settings
    from catlas.evaluate.report import format_table, write_eval
    from catlas.run import load_run

    run_dir = Path(args.run_dir)
    if args.protocol == "dynosurf":
        return _eval_dynosurf(args)
    if (run_dir / EVAL_DIR / METRICS_FILE).exists() and not args.overwrite:
        raise CatlasError(f"{run_dir / EVAL_DIR / METRICS_FILE}: evaluation exists; "
                          "use --overwrite to replace it")
    settings = EvalSettings(pairs=args.pairs, seed=args.seed, n_points=args.points)
    check_settings(settings)  # before loading; evaluate() also checks --points against the patches
    run = load_run(run_dir, device=args.device)
    gt = load_gt(run, args.gt)
    result = evaluate(run, gt, settings)
    mesh_lines = _eval_tracked_mesh(run, gt, result.summary, progress=False)
    out = write_eval(run_dir, result, overwrite=args.overwrite)
    print(format_table(result.summary))
    print(mesh_lines)
    print(f"wrote {out} ({len(result.pairs)} pairs, {result.summary['seconds']:.1f} s)")
    return 0


def _eval_dynosurf(args: argparse.Namespace) -> int:
    """eval --protocol dynosurf: DynoSurf's figures for the tracked mesh and the atlas's mesh."""
    import json

    from catlas.evaluate import load_gt
    from catlas.evaluate.dynosurf import dynosurf_report, format_dynosurf_report
    from catlas.evaluate.gt import load_gt_faces
    from catlas.export.mesh import mesh_sequence
    from catlas.fileio import atomic_write_text
    from catlas.run import load_run
    from catlas.runfiles import DYNOSURF_FILE
    from catlas.tracked_mesh import tracked_mesh

    run_dir = Path(args.run_dir)
    path = run_dir / EVAL_DIR / DYNOSURF_FILE
    if path.exists() and not args.overwrite:
        raise CatlasError(f"{path}: evaluation exists; use --overwrite to replace it")
    run = load_run(run_dir, device=args.device)
    gt, gt_faces = load_gt(run, args.gt), load_gt_faces(run, args.gt)  # normalised units
    tm = tracked_mesh(run)
    atlas = mesh_sequence(run, kept=tm.sequence.kept)
    surfaces = {f"mesh (frame {tm.frame}'s {tm.source}, tracked)": tm.sequence,
                "atlas (every patch's UV grid)": atlas}
    report = dynosurf_report({name: (run.sequence.to_normalized(seq.vertices), seq.faces)
                              for name, seq in surfaces.items()}, gt, gt_faces, seed=args.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    print(format_dynosurf_report(report))
    print(f"wrote {path}")
    return 0


def _eval_tracked_mesh(run, gt, summary: dict, progress: bool) -> str:
    """Score the tracked mesh (export --surface mesh) into ``summary["tracked_mesh"]``; the lines
    to print (a note when it cannot be made here)."""
    from catlas.evaluate.mesh_quality import format_mesh_report, mesh_report
    from catlas.tracked_mesh import tracked_mesh

    try:
        report = mesh_report(run, tracked_mesh(run, progress=progress), gt)
    except CatlasError as e:  # a cloud input without pymeshlab
        summary["tracked_mesh"] = None
        return f"tracked mesh: not scored ({e})"
    summary["tracked_mesh"] = report
    return format_mesh_report(report)


def _compare(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from catlas.evaluate import (EvalSettings, evaluate_gt_atlas, evaluate_nearest, load_gt,
                                 load_gt_faces)
    from catlas.evaluate.report import compare_rows, format_compare, read_metrics, summary_row
    from catlas.run import load_run

    run_dirs = [Path(d) for d in args.run_dirs]
    rows = compare_rows(run_dirs, args.convention)
    if args.gt and not args.baseline:
        raise CatlasError("--gt is used with --baseline")
    notes = []
    if args.baseline:
        # on the first run's GT, with the pair settings its evaluation recorded (else the defaults)
        first = run_dirs[0]
        run = load_run(first)
        gt = load_gt(run, args.gt)
        recorded = (read_metrics(first) or {}).get("settings", {})
        known = {f.name for f in fields(EvalSettings)}
        settings = EvalSettings(**{k: v for k, v in recorded.items() if k in known})
        where = (f"GT of {first}, {settings.pairs} pairs, seed {settings.seed}"
                 + ("" if recorded else f" (defaults: {first} has no evaluation)"))
        for name in dict.fromkeys(args.baseline):
            if name == "nearest":
                result = evaluate_nearest(gt, settings)
                notes.append(f"nearest: each GT vertex -> nearest GT vertex of the other frame; {where}")
            else:
                result = evaluate_gt_atlas(gt, load_gt_faces(run, args.gt), settings)
                notes.append(f"gt-atlas: the GT mesh as a perfect atlas, {settings.n_points} points "
                             f"(the protocol's floor); {where}")
            rows.append(summary_row(name, None, result.summary, args.convention))
    print(format_compare(rows, args.convention))
    for note in notes:
        print(note)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from catlas.bench import run_bench

    overrides: dict[str, Any] = {}
    for text in args.set or []:
        overrides = merge_dicts(overrides, parse_override(text))
    variants: dict[str, dict[str, Any]] = {}
    for text in args.variant or []:
        name, sep, setting = text.partition(":")
        if not sep or not name:
            raise CatlasError(f"--variant expects NAME:SECTION.KEY=VALUE, got {text!r}")
        variants[name] = merge_dicts(variants.get(name, {}), parse_override(setting))
    print(run_bench(tuple(args.preset), tuple(args.method), repeats=args.repeats, device=args.device,
                    overrides=overrides, variants=variants, rounds=args.rounds, n_frames=args.frames))
    return 0


def _export(args: argparse.Namespace) -> int:
    from catlas.export.sequence import DEFAULT_FPS, check_fps, check_resolution, export_run
    from catlas.run import load_run

    fps = DEFAULT_FPS if args.fps is None else args.fps
    check_resolution(args.resolution)  # before loading the run (export_run checks them too)
    check_fps(fps)
    run = load_run(args.run_dir, device=args.device)
    written = export_run(run, args.format, out=args.out, resolution=args.resolution,
                         overwrite=args.overwrite, fps=fps,
                         drop_collapsed=not args.keep_collapsed, progress=not args.quiet,
                         surface=args.surface, reference=args.reference)
    for fmt, paths in written.items():
        timing = {"glb": f" (animation at {fps:g} fps, frame k keyed at (k + 1) / {fps:g} s)",
                  "pc2": " (sample k at frame k + 1; in Blender set Mesh Cache's Frame Start to 1)"}.get(fmt, "")
        print(f"wrote {fmt}: {len(paths)} files in {paths[0].parent}{timing}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from catlas.render.sequence import RenderSettings, render_frames
    from catlas.run import load_run

    # checked before anything is loaded (the surface settings, also when --correspondences)
    settings = RenderSettings(size=args.size, up=args.up, azim=args.azim, elev=args.elev,
                              fps=args.fps, drop_collapsed=not args.keep_collapsed,
                              resolution=args.resolution)
    if args.correspondences:
        from catlas.render.correspondence import MAX_PANELS

        if not 1 <= args.frames <= MAX_PANELS:
            raise CatlasError(f"--frames must be an integer in [1, {MAX_PANELS}] (frames shown), "
                              f"got {args.frames}")
    elif args.gt:
        raise CatlasError("--gt is used with --correspondences")
    if args.correspondences and args.surface != "atlas":
        raise CatlasError("--surface is used without --correspondences")
    run = load_run(args.run_dir, device=args.device)
    default = run.path / RENDER_DIR / (TRACKED_MESH_DIR if args.surface == "mesh" else "")
    out = Path(args.out) if args.out else default
    if args.correspondences:
        from catlas.render.correspondence import render_correspondences

        paths = render_correspondences(run, out, gt=args.gt, reference=args.reference,
                                       n_frames=args.frames, up=args.up, azim=args.azim,
                                       elev=args.elev, overwrite=args.overwrite,
                                       progress=not args.quiet)
    else:
        paths = render_frames(run, out, gif=args.gif, mp4=args.mp4, settings=settings,
                              overwrite=args.overwrite, progress=not args.quiet, surface=args.surface)
    print(f"wrote {len(paths)} files to {out}")
    for p in paths:
        if p.suffix != ".png" or p.parent == out:
            print(f"  {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="catlas", description=DESCRIPTION, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    f = _command(sub, "fit", "fit a temporally-coherent atlas to a sequence",
                 "  catlas fit FRAMES_DIR --out runs/mine             # the fast preset\n"
                 "  catlas fit FRAMES_DIR --out runs/t --minutes 10   # as many steps as fit in 10 minutes\n"
                 "  catlas fit --resume runs/mine                     # continue after Ctrl-C or a crash")
    f.add_argument("input", nargs="?", metavar="INPUT", help="folder of frames (.ply .obj .off .xyz .txt .npy) or one (K,N,3) .npy/.npz")
    f.add_argument("--out", metavar="RUN_DIR", help="run folder to create")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    f.add_argument("--overwrite", action="store_true",
                   help="replace an existing run folder (only one that catlas wrote)")
    f.add_argument("--preset", default="fast", type=_preset, metavar="{" + ",".join(PUBLIC_PRESETS) + "}",
                   help="fast (default: 30,000 steps, about 10-11 minutes for 35 frames on a 2-core CPU), paper (the "
                        "paper's network, samples and 200,000 steps) or demo (fast at 3,000 "
                        "steps: about a minute for the built-in example)")
    f.add_argument("--method", type=method_name, choices=METHODS,
                   help="mca (the paper's metric-consistent atlas; default), atlasnet or dsr")
    steps = f.add_mutually_exclusive_group()
    steps.add_argument("--iterations", type=int, metavar="N", help="training steps (default: the preset's)")
    steps.add_argument("--minutes", type=float, metavar="M",
                       help="a time budget instead: time the step here, then run as many steps as fit "
                            "(recorded in config.yaml and time_budget.json)")
    f.add_argument("--seed", type=int, metavar="S",
                   help="random seed of the fit: initial weights, point sampling, pairs (default 0; "
                        "0 to 4294967295)")
    f.add_argument("--device", help=DEVICE_HELP + "; a resumed fit keeps its run's device")
    f.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override any setting, e.g. --set model.n_patches=25 (repeatable)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=_fit)

    e = _command(sub, "example", "write a built-in example sequence (default: a walking creature)",
                 "  catlas example runs/example\n"
                 "  catlas example runs/sheet --kind sheet --frames 48 --force")
    e.add_argument("out", metavar="DIR", help="folder to write the frames to (OBJ meshes, one per frame)")
    e.add_argument("--frames", type=int, default=24, metavar="N",
                   help=f"number of frames (default 24; 1 to {MAX_EXAMPLE_FRAMES})")
    e.add_argument("--kind", choices=EXAMPLE_KINDS, default="creature",
                   help="creature: a quadruped walking in place; sheet: a sheet rolling into an "
                        "arc; humanoid: a humanoid marching in place with large limb swings")
    e.add_argument("--force", action="store_true",
                   help="replace the frames of an earlier catlas example in DIR")
    e.set_defaults(func=_example)

    g = _command(sub, "degrade", "write a degraded copy of a mesh sequence, with its GT kept",
                 "  catlas degrade runs/example --out runs/noisy --kind noise --level 0.01\n"
                 "  catlas degrade ../shared/data/cat_walk --out runs/cat_motion --kind motion\n"
                 "  catlas fit runs/noisy/frames --out runs/fit_noisy && catlas eval runs/fit_noisy "
                 "--gt runs/noisy/gt")
    g.add_argument("input", metavar="INPUT",
                   help="a mesh sequence whose frames share one connectivity (folder or .npz)")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write: DIR/frames (the degraded frames), DIR/gt (the GT "
                        "meshes) and DIR/degrade.json (what was applied)")
    g.add_argument("--kind", required=True, choices=DEGRADE_KINDS,
                   help="motion: rotate about up by LEVEL degrees per frame and drift one body "
                        "length over the sequence (meshes); noise: Gaussian noise of sigma LEVEL x "
                        "body length; outliers: a LEVEL fraction of the points uniform in the "
                        "frame's box; holes: a LEVEL fraction cut off by a random plane per "
                        "frame; partial: only the points facing one side-view camera")
    g.add_argument("--level", type=float, metavar="X",
                   help="strength (defaults: motion 5.14, noise 0.005, outliers 0.02, holes 0.3; "
                        "partial takes none)")
    g.add_argument("--points", type=int, default=DEGRADE_POINTS, metavar="N",
                   help=f"points sampled per frame by the point-cloud kinds (default {DEGRADE_POINTS}, "
                        "what a fit stores per frame)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    g.add_argument("--up", choices=("x", "y", "z"), default="y",
                   help="the input's up axis (default y: the built-in examples and cat_walk)")
    g.add_argument("--drift", type=float, default=1.0, metavar="L",
                   help="motion: drift over the whole sequence, in body lengths (the longest side "
                        "of frame 0's box; default 1)")
    g.add_argument("--force", action="store_true",
                   help="replace what an earlier catlas degrade wrote in DIR (nothing else)")
    g.set_defaults(func=_degrade)

    c = _command(sub, "correspond", "map points of one frame to another through the atlas",
                 "  catlas correspond runs/demo --from 0 --to 12 --out corr.csv\n"
                 "  catlas correspond runs/demo --from 0 --to 12 --points my_points.xyz --out corr.npz")
    c.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by catlas fit")
    c.add_argument("--from", dest="src", type=int, required=True, metavar="I", help="source frame")
    c.add_argument("--to", dest="dst", type=int, required=True, metavar="J", help="target frame")
    c.add_argument("--points", metavar="FILE",
                   help="query points in input units (.xyz .txt .npy .ply .obj .off); "
                        "default: frame I's stored cloud")
    c.add_argument("--out", required=True, metavar="FILE",
                   help="file to write, .npz or .csv: for each query point the index and position "
                        "of its match in frame J's stored cloud")
    c.add_argument("--samples", type=int, default=3125, metavar="N",
                   help="surface samples per frame (default 3125, the evaluation protocol's; at least "
                        "one per patch, at most 100,000)")
    c.add_argument("--device", default="auto", help=DEVICE_HELP)
    c.set_defaults(func=_correspond)

    v = _command(sub, "eval", "score correspondences and reconstruction (the paper's protocol)",
                 "  catlas eval runs/demo                  # against the GT stored with the run\n"
                 "  catlas eval runs/cat --gt data/cat_walk --pairs 500 --overwrite\n"
                 "  catlas eval runs/demo --protocol dynosurf  # the 2024-26 methods' figures")
    v.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by catlas fit")
    v.add_argument("--gt", metavar="GT_SEQUENCE",
                   help="GT meshes/vertices (folder or .npy/.npz), same vertex order in every "
                        "frame, input units; default: the vertices stored with the run")
    v.add_argument("--pairs", type=int, default=500, metavar="N",
                   help="random frame pairs scored (default 500, the paper's; at most 100,000)")
    v.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the frame-pair draws (default 0)")
    v.add_argument("--points", type=int, default=3125, metavar="N",
                   help="predicted points per shape (default 3125, the paper's; at least one per "
                        "patch, at most 100,000)")
    v.add_argument("--device", default="auto", help=DEVICE_HELP)
    v.add_argument("--protocol", choices=("paper", "dynosurf"), default="paper",
                   help="paper: frame-pair correspondences (eval/metrics.json, with the tracked "
                        "mesh's figures); dynosurf: Chamfer-L2, F-score, normal consistency and "
                        "correspondence error of the tracked mesh and the atlas against the GT "
                        "meshes, as recent methods report them (eval/dynosurf.json)")
    v.add_argument("--overwrite", action="store_true", help="replace an existing RUN_DIR/eval")
    v.set_defaults(func=_eval)

    k = _command(sub, "compare", "print evaluated runs side by side",
                 "  catlas compare runs/cat_mca runs/cat_atlasnet runs/cat_dsr\n"
                 "  catlas compare runs/cat_mca --baseline nearest gt-atlas --convention paper")
    k.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="evaluated run folders (catlas eval)")
    k.add_argument("--convention", choices=("code", "paper"), default="code",
                   help="metric convention: code (default; the authors' evaluation code, which made "
                        "the paper's tables) or paper (the formulas of the paper's text)")
    k.add_argument("--baseline", choices=("nearest", "gt-atlas"), nargs="+",
                   help="add reference rows, scored on the first run's GT with the pairs and seed "
                        "of its evaluation: nearest = each GT vertex of frame A -> the nearest GT "
                        "vertex of frame B (3D), the map to beat; gt-atlas = the GT mesh as a "
                        "perfect atlas, the best the protocol's points allow (needs mesh GT)")
    k.add_argument("--gt", metavar="GT_SEQUENCE",
                   help="GT for --baseline (as for eval); default: the vertices stored with the "
                        "first run")
    k.set_defaults(func=_compare)
    b = _command(sub, "bench", "measure matmul rate, training-step speed, FLOPs and memory",
                 "  catlas bench                                   # the paper preset, every method\n"
                 "  catlas bench --preset fast --method mca --variant w:model.code_dim=128")
    b.add_argument("--preset", nargs="+", default=["paper"], type=_preset,
                   metavar="{" + ",".join(PUBLIC_PRESETS) + "}",
                   help="presets to measure (default: paper)")
    b.add_argument("--method", nargs="+", type=method_name, default=list(METHODS), choices=METHODS,
                   help="methods to measure (default: all)")
    b.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="timed steps per configuration and round (default 5)")
    b.add_argument("--rounds", type=int, default=3, metavar="N",
                   help="rounds; each times every configuration in turn (interleaved; default 3)")
    b.add_argument("--frames", type=int, default=8, metavar="N",
                   help="frames of random clouds (a fit's sequence length; default 8, 2 to 1000)")
    b.add_argument("--variant", action="append", metavar="NAME:SECTION.KEY=VALUE",
                   help="also time every preset and method with this setting, as rows 'preset+NAME' "
                        "(repeatable; settings with the same NAME combine)")
    b.add_argument("--device", default="auto", help=DEVICE_HELP)
    b.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a setting of every measured configuration (repeatable)")
    b.set_defaults(func=_bench)

    x = _command(sub, "export", "write the surface sequence as OBJ/PLY per frame, GLB or PC2",
                 "  catlas export runs/demo --format obj             # runs/demo/export/obj/frame_0000.obj ...\n"
                 "  catlas export runs/demo --format ply glb pc2     # several formats at once\n"
                 "  catlas export runs/demo --format glb --out my_x  # my_x/glb/sequence.glb\n"
                 "  catlas export runs/demo --format glb --surface mesh  # one mesh, animated: "
                 "runs/demo/export/mesh/glb/sequence.glb")
    x.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by catlas fit")
    x.add_argument("--format", nargs="+", required=True, choices=("obj", "ply", "glb", "pc2"),
                   help="obj/ply: one file per frame; glb: one animated file (morph targets); "
                        "pc2: point cache + the frame-0 OBJ it animates")
    x.add_argument("--surface", choices=("atlas", "mesh"), default="atlas",
                   help="atlas: every patch's UV grid (the atlas's texture and UVs); mesh: one mesh "
                        "(the input mesh of --reference, or a mesh through its cloud) whose "
                        "vertices the atlas carries through every frame (default atlas)")
    x.add_argument("--reference", type=int, metavar="K",
                   help="--surface mesh: the frame the mesh is taken from (default: the middle frame)")
    x.add_argument("--resolution", type=int, metavar="R",
                   help="--surface atlas: UV grid vertices per patch side, 2 to 512 (default: the "
                        "run's train.mesh_resolution)")
    x.add_argument("--out", metavar="DIR",
                   help="each format goes to DIR/FORMAT (default DIR: RUN_DIR/export, with "
                        "--surface mesh RUN_DIR/export/mesh)")
    x.add_argument("--fps", type=float, metavar="FPS",
                   help="GLB animation frame rate, frames per second (default 24, Blender's; 0.01 "
                        "to 1000); frame k is keyed at (k + 1) / FPS s: Blender frame k + 1 in a "
                        "scene at FPS")
    _add_output_options(x)
    x.set_defaults(func=_export)

    r = _command(sub, "render", "pictures of the textured reconstruction, GIF/MP4, correspondences",
                 "  catlas render runs/demo --gif --mp4        # per-frame PNGs and animations\n"
                 "  catlas render runs/demo --correspondences  # clouds coloured through the map")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by catlas fit")
    r.add_argument("--out", metavar="DIR", help="default RUN_DIR/render (with --surface mesh: RUN_DIR/render/mesh)")
    r.add_argument("--surface", choices=("atlas", "mesh"), default="atlas",
                   help="atlas: the patch grids; mesh: the tracked mesh of export --surface mesh "
                        "(default atlas)")
    r.add_argument("--gif", action="store_true", help="also write surface.gif and side_by_side.gif")
    r.add_argument("--mp4", action="store_true", help="also write surface.mp4 and side_by_side.mp4")
    r.add_argument("--correspondences", action="store_true",
                   help="instead: input clouds coloured through the map to --reference, and "
                        "error heat maps when GT is known")
    r.add_argument("--gt", metavar="GT_SEQUENCE",
                   help="GT vertices for the error map (default: those stored with the run)")
    r.add_argument("--reference", type=int, default=0, metavar="I",
                   help="reference frame of --correspondences (default 0)")
    r.add_argument("--frames", type=int, default=5, metavar="N",
                   help="frames shown by --correspondences, spread over the sequence (default 5; 1 to 200)")
    r.add_argument("--size", type=int, default=480, metavar="PX",
                   help="image height and width of one panel, pixels (default 480; 16 to 4096)")
    r.add_argument("--resolution", type=int, metavar="R",
                   help="UV grid vertices per patch side, 2 to 512 (default 33)")
    r.add_argument("--fps", type=float, default=12.0,
                   help="GIF / MP4 frame rate, frames per second (default 12; 0.01 to 1000)")
    r.add_argument("--up", choices=("x", "y", "z"), default="y", help="world up axis (default y)")
    r.add_argument("--azim", type=float, default=35.0, metavar="DEG", help="camera azimuth, degrees (default 35)")
    r.add_argument("--elev", type=float, default=20.0, metavar="DEG", help="camera elevation, degrees (default 20)")
    _add_output_options(r)
    r.set_defaults(func=_render)
    return p


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that write surfaces (export, render)."""
    parser.add_argument("--keep-collapsed", action="store_true", help="keep patches that collapse in every frame")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _one_line(text: str) -> str:
    """A message on one line (a multi-line one joined with spaces)."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def os_error_message(e: OSError) -> str:
    """``PATH: REASON`` (``PATH -> PATH2: REASON`` for a rename or link) of a failed file
    operation; str(e) when the error names no file."""
    reason = e.strerror or str(e)
    if e.filename is not None and e.filename2 is not None:
        return _one_line(f"{e.filename} -> {e.filename2}: {reason}")
    if e.filename is not None:
        return _one_line(f"{e.filename}: {reason}")
    return _one_line(str(e) or type(e).__name__)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, *a, **k: f"catlas: warning: {msg}\n"
    try:
        return args.func(args)
    except CatlasError as e:
        print(f"catlas: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only or full disk, a path that is a file, permission denied ...
        print(f"catlas: error: {os_error_message(e)}", file=sys.stderr)
        return 2
    except yaml.YAMLError as e:
        from catlas.config import yaml_problem

        print(f"catlas: error: not valid YAML ({_one_line(yaml_problem(e))})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catlas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
