"""Robustness: accuracy on degraded copies of a sequence (catlas degrade), with and without each
remedy, beside the same fit on the clean sequence and the nearest map on the same data.

    # the degraded-input figures of docs/results.md: one of the invocations (all: docs/benchmarks.md)
    .venv/bin/python benchmarks/robustness.py --iterations 6000 --jobs 2 --out runs/robustness \\
        --sequences cat_walk humanoid --degradations clean motion --methods mca --remedies none align
    # continue an interrupted benchmark (finished fits and their evaluations kept)
    .venv/bin/python benchmarks/robustness.py ... --reuse
    # the table of every row there (several invocations' subsets), fitting nothing
    .venv/bin/python benchmarks/robustness.py --out runs/robustness --table-only
    # seconds: a smoke test
    .venv/bin/python benchmarks/robustness.py --sequences creature --frames 6 \\
        --degradations clean noise1 --methods mca --remedies none center --seeds 0 \\
        --preset tiny --iterations 20 --pairs 10 --out /tmp/robustness

Sequences: cat_walk = ../shared/data/cat_walk (skipped with a message when absent; --cat-walk DIR
for another copy; never copied, only its degraded copies are written), creature, humanoid and
sheet = the built-in examples (catlas.data.write_example, --frames frames, default 24 as in
benchmarks/accuracy.py), written to --out/data/<sequence>/clean.

Degradations (catlas.data.degrade.write_degraded, the library behind `catlas degrade`; one
seeded copy per sequence, --data-seed, in --out/data/<sequence>/<name>: frames/, gt/,
degrade.json): clean (the sequence itself), motion, noise, outliers, holes, partial, each at its
default level (motion 5.14 deg per frame, noise 0.005, outliers 0.02, holes 0.3), or with a
number appended: the level in % of the body length (noise) or in % of the points (outliers,
holes), in degrees per frame (motion): noise0.5 = sigma 0.005 L, noise1 = 0.01 L, holes20 = 20 %.
The point-cloud kinds sample as many points per frame as a fit stores (data.points_per_frame of
--preset and --set). A data folder written earlier with other settings is refused unless
--overwrite (which rewrites it and refits the fits on it).

Methods: mca, atlasnet (or dsr), fitted. Remedies, each a set of --set overrides of the fits:
none; center = data.center_frames=true; ssc = loss.alpha_ssc=0.1 and loss.ssc_copies=--ssc-copies
(default 4: each copy is one more encoder and decoder pass per frame and step); center+ssc = both;
align = data.align_frames=true (centred and turned back to frame 0's orientation per frame);
align+ssc = both; trim = loss.input_trim=0.05 (the 5 % of each frame's step points farthest from the surface
left out of the input -> surface Chamfer direction: against outliers); surface_trim =
loss.surface_trim=0.3 (the 30 % of each frame's surface samples farthest from the input left out
of the surface -> input direction: against holes).
--set applies to every fit (not to the remedies' three settings).

Budget and fits as benchmarks/time_to_quality.py: --iterations N, or --minutes M (train.minutes:
each fit times its own steps), or neither (the preset's iterations); fits are `catlas fit`
subprocesses, --jobs 1 (one at a time, train.threads = 2) or --jobs 2 (side by side, 1 thread
each; evaluation waits until no fit runs); their output goes to
--out/<sequence>/<degradation>/logs/<run>.log. Existing run folders are refused unless --reuse
(the same config: a finished fit is kept and its evaluation reused when it has the same pairs,
an unfinished one resumed) or --overwrite (refit); every folder is checked before anything runs.

Evaluation: every fit as `catlas eval RUN --gt DIR/gt --pairs P` scores it (pairs drawn with
seed 0, the same for every fit of a sequence; the clean sequence is its own GT), written to
RUN/eval. The nearest map is scored on the same pairs, on the same data, normalised as the fits
with the same data settings normalise it (once per data setting the remedies use: none,
data.center_frames, data.align_frames; --out/<sequence>/<degradation>/nearest[_center|_align]/eval): on mesh inputs
(clean, motion) each GT vertex of A -> the nearest GT vertex of B (benchmarks/accuracy.py's
nearest); on point clouds, which have no vertices to map, the same chain as the atlas map with
the input clouds in place of the atlas: each GT vertex of A -> the nearest input point of A ->
the nearest input point of B (3D) -> the nearest GT vertex of B (every point of the degraded
frames, not the fit's subsample). CD is not defined for it.

Outputs in --out:
  results.csv   one row per fit: sequence, degradation, method, remedy, seed, msL2, mr, mAUC, CD
                (authors'-code convention), steps, seconds (training), jobs, threads, concurrent
                (the most fits that ran at once during it), cpus, pairs, run folder; rows of
                fits outside this invocation (other degradations, remedies ...) are kept
  nearest.csv   the nearest map per sequence, degradation and data settings (remedy none,
                center or align)
  table.md      the columns' meaning once, then per sequence: its data, how its fits ran, and one
                table of degradation x method x remedy rows: mean +- sample std over --seeds, the
                clean figure of the same method and remedy (the method without a remedy, marked
                *, where that remedy was not fitted clean) and the ratio in %, the nearest map's
                msL2 on the same data; each degradation's nearest-map rows after its fits; printed
  fits.json     how each fit ran; <sequence>/<degradation>/<method>_s<seed>[_<remedy>] the runs
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (  # noqa: E402  (sequences, overrides, run folders, evaluation, tables)
    CAT_WALK, EVAL_SEED, METRICS, ROOT, SEQUENCES, SYNTHETIC_FRAMES, UNITS, base_overrides, cell,
    evaluate_run, folder, row_stats,
)
from time_to_quality import (  # noqa: E402  (subprocess fits, --jobs, --reuse rules)
    Fit, fit_action, fit_settings, guarded, jobs_text, read_curves, run_and_evaluate,
)

from catlas.config import METHODS, PRESETS, make_config, merge_dicts, method_name, parse_override  # noqa: E402
from catlas.data import list_frames, load_sequence, read_frame, write_example  # noqa: E402
from catlas.data.degrade import FRAMES_DIR, GT_DIR, KINDS, META_FILE, check_level, write_degraded  # noqa: E402
from catlas.errors import CatlasError  # noqa: E402
from catlas.evaluate import EvalSettings, evaluate_nearest  # noqa: E402
from catlas.evaluate.nearest import NEAREST  # noqa: E402
from catlas.evaluate.protocol import evaluate_vertex_map  # noqa: E402
from catlas.evaluate.report import write_eval  # noqa: E402
from catlas.fileio import atomic_write_text  # noqa: E402
from catlas.surface import nearest  # noqa: E402

PROG = "robustness"
CLEAN = "clean"
DEFAULT_SEQUENCES = ("cat_walk", "creature", "humanoid")
DEFAULT_METHODS = ("mca", "atlasnet")
DEFAULT_DEGRADATIONS = (CLEAN, "motion", "noise0.5", "noise1", "outliers", "holes", "partial")
REMEDIES = ("none", "center", "ssc", "center+ssc", "align", "align+ssc", "trim", "surface_trim")
SSC_WEIGHT = 0.1
"""loss.alpha_ssc of the ssc remedy (the journal extension's weight)."""
TRIM = 0.05
"""loss.input_trim of the trim remedy: a little above the outliers' default share (2 %)."""
SURFACE_TRIM = 0.3
"""loss.surface_trim of the surface_trim remedy: the holes' default share (30 %)."""
REMEDY_KEYS = ("data.center_frames", "data.align_frames", "loss.alpha_ssc", "loss.ssc_copies",
               "loss.input_trim", "loss.surface_trim")
PERCENT_KINDS = ("noise", "outliers", "holes")
"""Kinds whose name suffix is a level in % (motion's is degrees per frame)."""
COLUMNS = ("sequence", "degradation", "method", "remedy", "seed", *METRICS, "steps", "seconds",
           "jobs", "threads", "concurrent", "cpus", "pairs", "run")
NEAREST_COLUMNS = ("sequence", "degradation", "remedy", "input", *METRICS, "pairs", "run")


# ---------------------------------------------------------------------------- names


def degradation_level(name: str) -> tuple[str | None, float | None]:
    """(kind, level) of a degradation name: ``clean`` -> (None, None); ``noise`` -> ("noise",
    None) (the default level); ``noise0.5`` -> ("noise", 0.005); ``motion3`` -> ("motion", 3.0).
    CatlasError for an unknown name or a level out of range."""
    if name == CLEAN:
        return None, None
    m = re.fullmatch(rf"({'|'.join(KINDS)})(\d+(?:\.\d*)?|\.\d+)?", name)
    if not m:
        raise CatlasError(f"unknown degradation {name!r} (use {CLEAN}, or one of {', '.join(KINDS)} "
                          "with an optional level, e.g. noise0.5)")
    kind, number = m.groups()
    level = None
    if number is not None:
        if kind == "partial":
            raise CatlasError(f"{name!r}: partial takes no level")
        level = float(number) / 100 if kind in PERCENT_KINDS else float(number)
    return kind, check_level(kind, level)


def remedy_overrides(remedy: str, ssc_copies: int) -> dict:
    """The --set overrides of a remedy (``none``, ``center``, ``align``, ``ssc``, ``trim``, or parts
    joined by +)."""
    o: dict = {}
    for part in remedy.split("+"):
        if part == "center":
            o = merge_dicts(o, {"data": {"center_frames": True}})
        elif part == "align":
            o = merge_dicts(o, {"data": {"align_frames": True}})
        elif part == "ssc":
            o = merge_dicts(o, {"loss": {"alpha_ssc": SSC_WEIGHT, "ssc_copies": ssc_copies}})
        elif part == "trim":
            o = merge_dicts(o, {"loss": {"input_trim": TRIM}})
        elif part == "surface_trim":
            o = merge_dicts(o, {"loss": {"surface_trim": SURFACE_TRIM}})
    return o


def data_remedy(remedy: str) -> str:
    """The part of a remedy that changes the data a fit sees (and the nearest map's): center,
    align or none."""
    parts = remedy.split("+")
    return "align" if "align" in parts else "center" if "center" in parts else "none"


def _keys(d: dict, prefix: str = ""):
    for k, v in d.items():
        yield from (_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])


# ---------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        self.exit(2, f"{PROG}: error: {message}\n")


def _degradation(text: str) -> str:
    try:
        degradation_level(text)
    except CatlasError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequences", nargs="+", choices=SEQUENCES, default=list(DEFAULT_SEQUENCES))
    p.add_argument("--degradations", nargs="+", type=_degradation, default=list(DEFAULT_DEGRADATIONS),
                   metavar="NAME", help=f"default: {' '.join(DEFAULT_DEGRADATIONS)}")
    p.add_argument("--methods", nargs="+", type=method_name, choices=METHODS, default=list(DEFAULT_METHODS))
    p.add_argument("--remedies", nargs="+", choices=REMEDIES, default=list(REMEDIES))
    p.add_argument("--ssc-copies", type=int, default=4, help="loss.ssc_copies of the ssc remedies (default 4)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, help="training steps of every fit")
    budget.add_argument("--minutes", type=float, help="training minutes of every fit (train.minutes)")
    p.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                   help="fits at the same time (1: alone, 2 threads; 2: side by side, 1 thread each)")
    p.add_argument("--pairs", type=int, default=500, help="evaluation frame pairs (default 500)")
    p.add_argument("--frames", type=int, default=SYNTHETIC_FRAMES,
                   help=f"frames of the built-in sequences (default {SYNTHETIC_FRAMES})")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the degraded copies (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="setting for every fit (repeatable; not the remedies' settings)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "robustness")
    p.add_argument("--cat-walk", type=Path, default=CAT_WALK, metavar="DIR", help="cat_walk's frames")
    p.add_argument("--reuse", action="store_true", help="keep (or resume) fits with the same config")
    p.add_argument("--overwrite", action="store_true", help="refit existing run folders, rewrite changed data")
    p.add_argument("--dry-run", action="store_true", help="print the planned fits only")
    p.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS),
                   help="the table's metrics (default all)")
    p.add_argument("--table-only", action="store_true",
                   help="fit and score nothing: write table.md from results.csv and nearest.csv")
    args = p.parse_args(argv)
    for name in ("sequences", "degradations", "methods", "remedies", "seeds"):
        setattr(args, name, list(dict.fromkeys(getattr(args, name))))
    if args.pairs < 1 or args.frames < 2 or (args.iterations is not None and args.iterations < 1) \
            or (args.minutes is not None and not args.minutes > 0):
        p.error("--pairs, --iterations and --minutes must be positive, --frames at least 2")
    if min(args.seeds) < 0 or args.data_seed < 0:
        p.error("--seeds and --data-seed must be >= 0")
    if args.ssc_copies < 2:
        p.error("--ssc-copies must be at least 2 (copy 0 is the frame itself)")
    for text in args.set:
        try:
            keys = set(_keys(parse_override(text)))
        except CatlasError as e:
            p.error(str(e))
        if keys & set(REMEDY_KEYS):
            p.error(f"--set {text}: {', '.join(REMEDY_KEYS)} belong to the remedies (--remedies, --ssc-copies)")
    args.label, args.method_sets = None, {}  # what accuracy's and time_to_quality's helpers read
    return args


# ---------------------------------------------------------------------------- data


@dataclass
class Data:
    """One sequence's copy under one degradation: the frames a fit reads and their GT."""

    sequence: str
    degradation: str
    frames: Path
    gt: Path
    folder: Path | None
    """--out/data/<sequence>/<degradation>; None for clean cat_walk (read in place)."""
    expected: dict | None
    """What degrade.json must hold (None for clean)."""
    state: str = "ok"
    """ok (there, with these settings: kept), new (to write) or stale (there, other settings)."""


def sources(args: argparse.Namespace) -> dict[str, Path]:
    """Sequence -> its clean frames; cat_walk skipped (with a message) when absent."""
    out = {}
    for name in args.sequences:
        if name == "cat_walk":
            if not args.cat_walk.is_dir():
                print(f"skipped cat_walk: {args.cat_walk} is absent")
                continue
            out[name] = args.cat_walk
        else:
            out[name] = args.out / "data" / name / CLEAN
    return out


def points_per_frame(args: argparse.Namespace) -> int:
    return make_config(args.preset, base_overrides(args)).data.points_per_frame


def _frame_count(path: Path) -> int | None:
    try:
        return len(list_frames(path))
    except CatlasError:
        return None


def plan_data(args: argparse.Namespace, src: dict[str, Path]) -> dict[tuple[str, str], Data]:
    """Every (sequence, degradation)'s folders and whether they are to be written."""
    out = {}
    points = points_per_frame(args)
    for sequence, clean in src.items():
        builtin = sequence != "cat_walk"
        n_frames = args.frames if builtin else _frame_count(clean)
        for deg in args.degradations:
            if deg == CLEAN:
                d = Data(sequence, deg, clean, clean, clean if builtin else None, None)
                if builtin and clean.exists():
                    d.state = "ok" if _frame_count(clean) == n_frames else "stale"
                elif builtin:
                    d.state = "new"
            else:
                kind, level = degradation_level(deg)
                folder_ = args.out / "data" / sequence / deg
                expected = {"kind": kind, "level": level, "seed": args.data_seed, "source": str(clean),
                            "n_frames": n_frames, "points_per_frame": None if kind == "motion" else points}
                d = Data(sequence, deg, folder_ / FRAMES_DIR, folder_ / GT_DIR, folder_, expected)
                meta = folder_ / META_FILE
                if meta.exists():
                    try:
                        info = json.loads(meta.read_text())
                    except (OSError, ValueError):
                        info = {}
                    d.state = "ok" if all(info.get(k) == v for k, v in expected.items()) else "stale"
                elif folder_.exists() and any(folder_.iterdir()):
                    d.state = "stale"
                else:
                    d.state = "new"
            out[(sequence, deg)] = d
    return out


def write_data(args: argparse.Namespace, data: dict[tuple[str, str], Data]) -> None:
    """Write the new and stale folders: the built-in clean sequences first, then the copies."""
    points = points_per_frame(args)
    for d in sorted(data.values(), key=lambda d: d.degradation != CLEAN):
        if d.state == "ok" or d.folder is None:
            continue
        if d.degradation == CLEAN:
            write_example(d.folder, n_frames=args.frames, kind=d.sequence, force=True)
            print(f"wrote the built-in {d.sequence} ({args.frames} frames) to {d.folder}", flush=True)
        else:
            e = d.expected
            write_degraded(e["source"], d.folder, e["kind"], e["level"], seed=args.data_seed,
                           n_points=points, force=True)
            print(f"wrote {d.sequence} {d.degradation} to {d.folder}", flush=True)


def describe_data(d: Data) -> str:
    if d.degradation == CLEAN:
        return "the sequence itself (meshes, its own GT)"
    info = json.loads((d.folder / META_FILE).read_text())
    level = "" if info["level"] is None else f" level {info['level']:g} ({info['level_meaning']})"
    what = "meshes" if info["kind"] == "motion" else f"clouds of up to {info['points_per_frame']} points per frame"
    return f"{info['kind']}{level}, {what}, seed {info['seed']}"


# ---------------------------------------------------------------------------- fits


@dataclass
class RobustFit(Fit):
    """A time_to_quality Fit whose ``sequence`` is "<sequence>/<degradation>" (its logs, keys)."""

    name: str = ""
    degradation: str = ""
    remedy: str = "none"
    gt: Path | None = None


def plan(args: argparse.Namespace, data: dict[tuple[str, str], Data]) -> list[RobustFit]:
    fits = []
    for (sequence, deg), d in data.items():
        for method in args.methods:
            for remedy in args.remedies:
                for seed in args.seeds:
                    o = merge_dicts(fit_settings(args, method, seed), remedy_overrides(remedy, args.ssc_copies))
                    cfg = make_config(args.preset, o)
                    out = args.out / sequence / deg / folder(method, seed, None if remedy == "none" else remedy)
                    action, why = fit_action(out, cfg, args)
                    if d.state == "stale" and action in ("reuse", "resume"):  # fit on other data
                        action = "overwrite" if args.overwrite else "refused"
                        why = "its data folder holds other settings" + ("" if args.overwrite else "; use --overwrite")
                    fits.append(RobustFit(f"{sequence}/{deg}", d.frames, method, seed, out, cfg, o,
                                          action, why, name=sequence, degradation=deg, remedy=remedy,
                                          gt=d.gt))
    return fits


def describe(f: RobustFit) -> str:
    what = {"fit": "fit", "overwrite": "refit", "reuse": "keep", "resume": "resume",
            "refused": "REFUSED"}[f.action]
    tc = f.config.train
    steps = f"{tc.minutes:g} min" if tc.minutes is not None else f"{tc.iterations} iterations"
    return (f"{f.name} {f.degradation} {f.method} ({f.remedy}) seed {f.seed}: {what} {steps}, "
            f"{tc.threads} threads -> {f.out}" + (f" ({f.why})" if f.why else ""))


def fit_row(f: RobustFit, args: argparse.Namespace, info: dict) -> dict:
    """Evaluate one finished fit (or reuse its evaluation) -> its results.csv row."""
    summary, metrics = evaluate_run(f.out, args.pairs, gt=f.gt, keep=True)
    code = metrics["conventions"]["code"]
    how = info.get(f.key, {})
    row = {"sequence": f.name, "degradation": f.degradation, "method": f.method, "remedy": f.remedy,
           "seed": f.seed, **{k: code[k]["mean"] for k in METRICS}, "steps": summary["iterations"],
           "seconds": round(float(summary["train_seconds"]), 1), "jobs": how.get("jobs", ""),
           "threads": summary.get("threads", ""), "concurrent": how.get("concurrent", ""),
           "cpus": how.get("cpus", ""), "pairs": args.pairs, "run": str(f.out)}
    print(f"    {f.key} ({f.remedy}): " + "  ".join(f"{k} {row[k]:.3f}" for k in METRICS)
          + f"  ({row['steps']} steps, {row['seconds']:.1f} s)", flush=True)
    return row


# ---------------------------------------------------------------------------- the nearest map


def score_nearest(d: Data, remedy: str, args: argparse.Namespace) -> dict:
    """The nearest map on ``d``, normalised as a fit with ``remedy``'s data settings normalises
    it; written to --out/<sequence>/<degradation>/nearest[_center|_align]/eval. Returns its row."""
    cfg = make_config(args.preset, merge_dicts(base_overrides(args), remedy_overrides(remedy, args.ssc_copies)))
    seq = load_sequence(d.frames, cfg.data, np.random.default_rng(0))  # the fits' centres and scale
    gt = seq.to_normalized(np.stack([read_frame(p).points for p in list_frames(d.gt)]))
    if gt.shape[0] != seq.n_frames:
        raise CatlasError(f"{d.gt}: {gt.shape[0]} GT frames but {d.frames} has {seq.n_frames}")
    settings = EvalSettings(pairs=args.pairs, seed=EVAL_SEED)
    if seq.vertices is not None:
        kind, result = "meshes", evaluate_nearest(gt, settings)
    else:
        kind, result = "clouds", evaluate_vertex_map(gt, cloud_nearest_map(gt, [
            seq.to_normalized(read_frame(p).points, frames=k) for k, p in enumerate(list_frames(d.frames))]),
            settings, NEAREST, "input clouds: each GT vertex of A -> nearest input point of A -> "
            "nearest input point of B (3D) -> nearest GT vertex of B")
    out = args.out / d.sequence / d.degradation / (NEAREST if remedy == "none" else f"{NEAREST}_{remedy}")
    write_eval(out, result, overwrite=True)
    code = result.summary["conventions"]["code"]
    values = {k: code[k]["mean"] for k in METRICS}
    return {"sequence": d.sequence, "degradation": d.degradation, "remedy": remedy, "input": kind,
            **{k: "" if v != v else v for k, v in values.items()}, "pairs": args.pairs, "run": str(out)}


def cloud_nearest_map(gt: np.ndarray, clouds: list[np.ndarray]):
    """The nearest map's pair function on point-cloud inputs (:func:`evaluate_vertex_map`): the
    chain of :func:`catlas.surface.map_to_frame` with the input clouds in place of the atlas
    samples and the nearest input point of B in place of the atlas's (patch, uv) transfer.
    gt (K, V, 3) and clouds (K arrays (N_k, 3)) in one unit system."""
    from scipy.spatial import cKDTree

    trees = [cKDTree(c) for c in clouds]
    on_a: dict[int, np.ndarray] = {}  # frame -> (V,) nearest input point of each GT vertex

    def pair_map(a: int, b: int, tree_b) -> np.ndarray:
        if a not in on_a:
            on_a[a] = nearest(gt[a], trees[a])
        in_b = nearest(clouds[a][on_a[a]], trees[b])
        return nearest(clouds[b][in_b], tree_b)

    return pair_map


# ---------------------------------------------------------------------------- tables


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _ident(r: dict) -> tuple:
    return (r["sequence"], r["degradation"], r["method"], r["remedy"], str(r["seed"]))


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def group_stats(rows: list[dict]) -> dict | None:
    """accuracy.row_stats of results.csv rows (None when there are none)."""
    if not rows:
        return None
    recs = [{**{k: _num(r[k]) for k in METRICS}, "train_s": _num(r["seconds"]),
             "iterations": None if _num(r["steps"]) is None else int(float(r["steps"]))} for r in rows]
    return {**row_stats(recs), "n": len(rows)}


def _ratio(value: float | None, clean: float | None) -> str:
    return "-" if value is None or clean is None or clean == 0 else f"{100 * value / clean:.0f} %"


def _mean(ms) -> float | None:
    return None if ms is None else ms[0]


def runs_text(rows: list[dict]) -> str:
    """How the fits of one section ran, read from their rows (not from this invocation's flags)."""
    ways = sorted({(str(r["jobs"]), str(r["threads"])) for r in rows})
    said = [f"{jobs_text(int(j)) if j else 'fits'} ({t or '?'} thread{'' if t == '1' else 's'} each)"
            for j, t in ways]
    return "; ".join(said) or "no fits"


def table_section(sequence: str, data: list[Data], rows: list[dict], near: list[dict],
                  args: argparse.Namespace) -> str:
    """One sequence: a list of its data, then one table of degradation x method x remedy rows, each
    degradation followed by the nearest map's rows on the same data."""
    seeds = {str(s) for s in args.seeds}
    pick = [r for r in rows if r["seed"] in seeds and r["sequence"] == sequence]

    def stats(deg: str, method: str, remedy: str) -> dict | None:
        return group_stats([r for r in pick if (r["degradation"], r["method"], r["remedy"])
                            == (deg, method, remedy)])

    def nearest_of(deg: str, remedy: str) -> dict | None:
        return next((r for r in near if (r["sequence"], r["degradation"], r["remedy"])
                     == (sequence, deg, remedy)), None)

    metrics = args.metrics
    heads = (["data", "method", "remedy"] + [h for m in metrics for h in (m, "clean", "%")]
             + ["nearest msL2", "steps", "train s"])
    lines = [f"### {sequence}", ""] + [f"- {d.degradation}: {describe_data(d)}" for d in data] + [
        f"- fits: {runs_text(pick)}", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for d in data:
        deg = d.degradation
        for method in args.methods:
            for remedy in args.remedies:
                s = stats(deg, method, remedy)
                if s is None:
                    continue
                c, mark = stats(CLEAN, method, remedy), ""
                if c is None:
                    c, mark = stats(CLEAN, method, "none"), "*"
                cells = [deg, method, remedy + ("" if s["n"] == len(args.seeds) else f" ({s['n']} seeds)")]
                for m in metrics:
                    cm = None if c is None else _mean(c[m])
                    cells += [cell(s[m]), "-" if cm is None else f"{cm:.2f}{mark}", _ratio(_mean(s[m]), cm)]
                n = nearest_of(deg, data_remedy(remedy))
                nm = None if n is None else _num(n["msL2"])
                cells += ["-" if nm is None else f"{nm:.2f}", s["iterations"], cell(s["train_s"], 1)]
                lines.append("| " + " | ".join(str(x) for x in cells) + " |")
        for remedy in dict.fromkeys(data_remedy(r) for r in args.remedies):
            n, c = nearest_of(deg, remedy), nearest_of(CLEAN, remedy)
            if n is None:
                continue
            cells = [deg, NEAREST, remedy + f" ({n['input']})"]
            for m in metrics:
                v, cv = _num(n[m]), None if c is None else _num(c[m])
                cells += ["-" if v is None else f"{v:.2f}", "-" if cv is None else f"{cv:.2f}", _ratio(v, cv)]
            lines.append("| " + " | ".join(cells + ["-", "-", "-"]) + " |")
    return "\n".join(lines)


def table_header(args: argparse.Namespace) -> str:
    """What every section's figures mean (said once)."""
    return (f"Preset `{args.preset}`, seeds {args.seeds}, {args.pairs} pairs (seed {EVAL_SEED}); {UNITS}. "
            "Mean +- sample std over seeds. clean: the same method and remedy on the clean sequence "
            "(mean; * where that remedy was not fitted there: the method without a remedy); %: this row / "
            "clean; nearest msL2: the nearest map on the same data with the remedy's data settings "
            "(nearest rows: their clean column is the nearest map on the clean sequence).")


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, parse_args(argv))


def _main(args: argparse.Namespace) -> int:
    src = sources(args)
    if not src:
        print("nothing to do: no sequence available")
        return 0
    data = plan_data(args, src)
    if args.table_only:
        return write_table(args, data)
    stale = [d for d in data.values() if d.state == "stale"]
    fits = plan(args, data)
    for k, f in enumerate(fits, 1):
        print(f"[{k}/{len(fits)}] {describe(f)}")
    for d in stale:
        print(f"data {d.sequence} {d.degradation}: {d.folder} holds other settings"
              + (" (rewritten)" if args.overwrite else " (REFUSED)"))
    refused = sum(f.action == "refused" for f in fits)
    if refused or (stale and not args.overwrite):
        what = ([f"{refused} run folder(s) exist"] if refused else []) \
            + ([f"{len(stale)} data folder(s) hold other settings"] if stale and not args.overwrite else [])
        raise CatlasError(" and ".join(what) + " (REFUSED above); use --reuse (the same settings) or --overwrite")
    if args.dry_run:
        print(f"dry run: {len(fits)} fits planned, {sum(f.action in ('fit', 'overwrite', 'resume') for f in fits)} to run")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    write_data(args, data)

    info_file, results_file, nearest_file = args.out / "fits.json", args.out / "results.csv", args.out / "nearest.csv"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    mine = {(f.name, f.degradation, f.method, f.remedy, str(f.seed)) for f in fits}
    rows = [r for r in read_curves(results_file) if _ident(r) not in mine]

    def evaluate_one(f: RobustFit) -> None:
        rows.append(fit_row(f, args, info))
        write_csv(results_file, rows, COLUMNS)  # after every fit: an interruption keeps the work

    run_and_evaluate(fits, args, info, info_file, evaluate_one)

    near_keys = {(d.sequence, d.degradation, data_remedy(r)) for d in data.values() for r in args.remedies}
    near = [r for r in read_curves(nearest_file) if (r["sequence"], r["degradation"], r["remedy"]) not in near_keys]
    for d in data.values():
        for remedy in dict.fromkeys(data_remedy(r) for r in args.remedies):
            near.append(score_nearest(d, remedy, args))
    write_csv(nearest_file, near, NEAREST_COLUMNS)
    return write_table(args, data)


def write_table(args: argparse.Namespace, data: dict) -> int:
    """table.md (also printed) of the sequences and degradations of ``data``, from every row of
    results.csv and nearest.csv (this invocation's and earlier ones')."""
    rows = read_curves(args.out / "results.csv")  # as strings, like the rows kept from earlier invocations
    near = read_curves(args.out / "nearest.csv")
    by_sequence: dict[str, list[Data]] = {}
    for d in data.values():
        by_sequence.setdefault(d.sequence, []).append(d)
    table = "\n\n".join([table_header(args)] + [table_section(seq, ds, rows, near, args)
                                                  for seq, ds in by_sequence.items()])
    print("\n" + table)
    atomic_write_text(args.out / "table.md", table + "\n")
    print(f"\nwrote {args.out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
