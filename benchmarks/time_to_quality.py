"""Time to quality: how fast accuracy arrives. Fits keep snapshots, every snapshot is evaluated
with the paper protocol, and each metric is drawn against the training seconds at which the
snapshot was taken; a table gives the seconds each method needs to reach msL2 X / CD Y.

    # the project's standard runs (cat_walk, creature, humanoid; mca and atlasnet; 3 seeds)
    .venv/bin/python benchmarks/time_to_quality.py --minutes 3 --jobs 1 --out runs/ttq_3min
    .venv/bin/python benchmarks/time_to_quality.py --minutes 15 --jobs 1 --out runs/ttq_15min
    # continue an interrupted benchmark (finished fits kept, evaluated snapshots not redone)
    .venv/bin/python benchmarks/time_to_quality.py --minutes 3 --jobs 1 --out runs/ttq_3min --reuse
    # seconds: a smoke test
    .venv/bin/python benchmarks/time_to_quality.py --sequences sheet --methods mca --seeds 0 \\
        --preset tiny --iterations 20 --snapshots 2 --pairs 10 --out /tmp/ttq

Sequences, methods, --set, --methods-set, --label, --cat-walk and the data preparation are those
of benchmarks/accuracy.py (cat_walk = ../shared/data/cat_walk, skipped with a message when
absent; creature, sheet and humanoid = the built-in sequences, 24 frames, written to
--out/data/<name>).

Budget: --iterations N, or --minutes M (train.minutes: each fit times its own step and
recalibrates its step count after 5 % of the budget, catlas.train.budget), or neither (the
preset's iterations). --snapshots K keeps the weights every max(1, N // K) steps
(train.snapshot_every); with --minutes, N is the provisional count of
catlas.train.steptime.provisional_budget, timed once per sequence and method before the fits
(cached in --out/budget.json), so a fit keeps about K snapshots. The final iteration is always
evaluated too (from the final checkpoint when it is not a snapshot).

Fits run as subprocesses of `catlas fit`, --jobs 1 (one at a time, train.threads = 2) or
--jobs 2 (two side by side, train.threads = 1 each); their output goes to
--out/<sequence>/logs/<run>.log. With --jobs 1 each fit is evaluated right after it finishes;
with --jobs 2 all evaluations wait until no fit runs, so evaluation never competes with a timed
fit. Training seconds are the fit's own (losses.csv, the time spent in training steps only;
interpolated linearly between logged iterations when a snapshot falls between them).

Outputs in --out:
  curves.csv           one row per evaluated snapshot: sequence, method, label, seed,
                       iteration, seconds, msL2, mr, mAUC, CD (authors'-code convention), the
                       run's step count, jobs, threads, the most fits that ran at once during
                       this fit (concurrent), CPU count, pairs, run folder
  curves_<seq>.png     msL2, mr, mAUC, CD against training seconds: per method/label the mean
                       over seeds at each snapshot index, min-max band over seeds, and the
                       nearest-vertex baseline (same pairs) dashed
  table.md             per sequence: final metrics mean +- std over seeds, and the seconds to
                       reach each --thresholds-msl2 / --thresholds-cd (first snapshot at or
                       below it: the mean over seeds / the worst seed; '-' when a seed never
                       reaches it, with how many did); also printed
  fits.json            how each fit ran (jobs, threads, concurrent fits, CPUs, wall seconds)
  <seq>/<method>_s<seed>[_<label>]   the run folders; <seq>/nearest/eval the baseline

Existing run folders are refused unless --reuse (same config: a finished fit is kept, an
unfinished one resumed; snapshots already in curves.csv with the same --pairs are not
evaluated again) or --overwrite (refit). Rows of other variants (another --label) already in
curves.csv stay and are drawn and tabulated too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (  # noqa: E402  (sequence preparation, overrides, run folders, nearest)
    CAT_WALK, EVAL_SEED, METRICS, ROOT, SEQUENCES, UNITS, Job, cell, fit_overrides, folder,
    prepare_data, row_stats, score_nearest, variant,
)

from catlas.config import METHODS, PRESETS, FitConfig, make_config, merge_dicts, method_name  # noqa: E402
from catlas.data import list_frames  # noqa: E402
from catlas.errors import CatlasError  # noqa: E402
from catlas.evaluate import EvalSettings, evaluate, load_gt  # noqa: E402
from catlas.evaluate.nearest import NEAREST  # noqa: E402
from catlas.fileio import atomic_write_text  # noqa: E402
from catlas.run import CONFIG, SUMMARY, load_run  # noqa: E402
from catlas.train.steptime import provisional_budget  # noqa: E402
from catlas.train.checkpoint import list_snapshots  # noqa: E402

PROG = "time_to_quality"
DEFAULT_SEQUENCES = ("cat_walk", "creature", "humanoid")
DEFAULT_METHODS = ("mca", "atlasnet")
MSL2_THRESHOLDS = (40.0, 30.0, 25.0, 20.0, 15.0, 12.0)
CD_THRESHOLDS = (1.0, 0.5, 0.3)
CPUS = 2
"""The cores the fits share: train.threads = CPUS // jobs."""
COLUMNS = ("sequence", "method", "label", "seed", "iteration", "seconds", *METRICS, "iterations",
           "jobs", "threads", "concurrent", "cpus", "pairs", "run")
UNIT = {"msL2": "x1e3, lower is better", "mr": "%, lower is better", "mAUC": "%, higher is better",
        "CD": "x1e3, lower is better"}


@dataclass
class Fit:
    """One planned fit (or kept / resumed one) of one method and seed on one sequence."""

    sequence: str
    data: Path
    method: str
    seed: int
    out: Path
    config: FitConfig
    overrides: dict
    action: str = "fit"
    """fit, overwrite, reuse, resume or refused."""
    why: str = ""

    @property
    def key(self) -> str:
        return f"{self.sequence}/{self.out.name}"


# ---------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        self.exit(2, f"{PROG}: error: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequences", nargs="+", choices=SEQUENCES, default=list(DEFAULT_SEQUENCES))
    p.add_argument("--methods", nargs="+", type=method_name, choices=METHODS, default=list(DEFAULT_METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, help="training steps of every fit")
    budget.add_argument("--minutes", type=float, help="training minutes of every fit (train.minutes)")
    p.add_argument("--snapshots", type=int, default=12, help="snapshots per fit (default 12)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="setting for every fit (repeatable)")
    p.add_argument("--methods-set", action="append", default=[], metavar="METHOD:SECTION.KEY=VALUE",
                   help="setting for one method's fits (repeatable)")
    p.add_argument("--label", help="name of this variant: folder suffix and row name")
    p.add_argument("--pairs", type=int, default=500, help="evaluation frame pairs (default 500)")
    p.add_argument("--thresholds-msl2", type=float, nargs="+", default=list(MSL2_THRESHOLDS), metavar="X")
    p.add_argument("--thresholds-cd", type=float, nargs="+", default=list(CD_THRESHOLDS), metavar="Y")
    p.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                   help="fits at the same time (1: alone, 2 threads; 2: side by side, 1 thread each)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "time_to_quality")
    p.add_argument("--cat-walk", type=Path, default=CAT_WALK, metavar="DIR", help="cat_walk's frames")
    p.add_argument("--reuse", action="store_true", help="keep (or resume) fits with the same config")
    p.add_argument("--overwrite", action="store_true", help="refit existing run folders")
    args = p.parse_args(argv)
    args.methods, args.seeds = list(dict.fromkeys(args.methods)), list(dict.fromkeys(args.seeds))
    if args.label is not None and not re.fullmatch(r"[A-Za-z0-9.-]+", args.label):
        p.error(f"--label {args.label!r}: use letters, digits, '.' and '-'")
    if args.pairs < 1 or args.snapshots < 1 or (args.iterations is not None and args.iterations < 1) \
            or (args.minutes is not None and not args.minutes > 0):
        p.error("--pairs, --snapshots, --iterations and --minutes must be positive")
    if min(args.seeds) < 0:
        p.error("--seeds must be >= 0")
    args.method_sets = {}
    for text in args.methods_set:
        method, sep, setting = text.partition(":")
        method = method_name(method)
        if not sep or method not in args.methods:
            p.error(f"--methods-set {text!r}: expected METHOD:SECTION.KEY=VALUE with METHOD one of "
                    f"--methods ({', '.join(args.methods)})")
        args.method_sets.setdefault(method, []).append(setting)
    args.thresholds_msl2 = sorted(set(args.thresholds_msl2), reverse=True)
    args.thresholds_cd = sorted(set(args.thresholds_cd), reverse=True)
    return args


def budget_text(args: argparse.Namespace) -> str:
    return (f"{args.minutes:g} min per fit (timed by each fit)" if args.minutes is not None else
            f"{args.iterations} iterations" if args.iterations is not None else "the preset's iterations")


def jobs_text(jobs: int) -> str:
    return "fits alone" if jobs == 1 else f"{jobs} fits side by side"


# ---------------------------------------------------------------------------- planning


def fit_settings(args: argparse.Namespace, method: str, seed: int) -> dict:
    """Overrides of one fit before train.snapshot_every: accuracy's (--device, --set, --iterations,
    --methods-set, method, seed), then --minutes and the thread count of --jobs."""
    o = fit_overrides(args, method, seed, args.iterations)
    if args.minutes is not None:
        o = merge_dicts(o, {"train": {"minutes": args.minutes}})
    return merge_dicts(o, {"train": {"threads": CPUS // args.jobs}})


def snapshot_every(args: argparse.Namespace, sequence: str, data: Path, method: str, cache: dict) -> int:
    """max(1, N // --snapshots): N the fit's iterations, or with a time budget the provisional
    count (timed once per sequence and variant; cached, reused with --reuse)."""
    cfg = make_config(args.preset, fit_settings(args, method, args.seeds[0]))
    if cfg.train.minutes is None:
        return max(1, cfg.train.iterations // args.snapshots)
    n_frames = len(list_frames(data))
    plain = cfg.to_dict()
    plain["train"] = {**plain["train"], "iterations": None, "seed": None, "snapshot_every": None}
    signature = json.dumps({"config": plain, "frames": n_frames}, sort_keys=True)
    key = f"{sequence}/{folder(method, None, args.label)}"
    entry = cache.get(key)
    if not (args.reuse and entry and entry["signature"] == signature):
        iterations, budget = provisional_budget(cfg, n_frames)
        entry = cache[key] = {"signature": signature, "step_s": budget.timed_step_s, "iterations": iterations}
    print(f"budget {sequence} {variant(method, args.label)}: {entry['step_s'] * 1e3:.2f} ms per step "
          f"-> about {entry['iterations']} iterations in {cfg.train.minutes:g} min", flush=True)
    return max(1, entry["iterations"] // args.snapshots)


def _comparable(cfg: FitConfig, time_budget: bool) -> dict:
    d = cfg.to_dict()
    if time_budget:  # the fit fixes its count (and drops minutes) after calibrating
        d["train"] = {**d["train"], "iterations": None, "minutes": None, "snapshot_every": None}
    return d


def fit_action(out: Path, cfg: FitConfig, args: argparse.Namespace) -> tuple[str, str]:
    if not out.exists() or not any(out.iterdir()):
        return "fit", ""
    if args.reuse and (out / CONFIG).exists():
        try:
            old = FitConfig.load(out / CONFIG)
        except (OSError, CatlasError, ValueError):
            old = None
        if old is not None and _comparable(old, cfg.train.minutes is not None) == \
                _comparable(cfg, cfg.train.minutes is not None):
            return ("reuse" if (out / SUMMARY).exists() else "resume"), ""
        why = "exists with another config (other settings or --jobs)"
    else:
        why = "exists"
    if args.overwrite:
        return "overwrite", why
    return "refused", why + ("; use --overwrite" if args.reuse else "; use --reuse or --overwrite")


def plan(args: argparse.Namespace, data: dict[str, Path], cache: dict) -> list[Fit]:
    fits = []
    for sequence, path in data.items():
        for method in args.methods:
            every = snapshot_every(args, sequence, path, method, cache)
            for seed in args.seeds:
                o = merge_dicts(fit_settings(args, method, seed), {"train": {"snapshot_every": every}})
                cfg = make_config(args.preset, o)
                out = args.out / sequence / folder(method, seed, args.label)
                fits.append(Fit(sequence, path, method, seed, out, cfg, o, *fit_action(out, cfg, args)))
    return fits


def describe(f: Fit) -> str:
    what = {"fit": "fit", "overwrite": "refit", "reuse": "keep", "resume": "resume",
            "refused": "REFUSED"}[f.action]
    tc = f.config.train
    steps = f"{tc.minutes:g} min" if tc.minutes is not None else f"{tc.iterations} iterations"
    return (f"{f.sequence} {variant(f.method, None)} seed {f.seed}: {what} {steps}, snapshot every "
            f"{tc.snapshot_every}, {tc.threads} threads -> {f.out}" + (f" ({f.why})" if f.why else ""))


# ---------------------------------------------------------------------------- fitting


def _sets(d: dict, prefix: str = ""):
    """Nested overrides -> --set SECTION.KEY=VALUE arguments (values as JSON, which is YAML)."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _sets(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}={json.dumps(v)}"


def fit_command(f: Fit, preset: str) -> list[str]:
    cmd = [sys.executable, "-m", "catlas", "fit"]
    if f.action == "resume":
        return cmd + ["--resume", str(f.out), "--quiet"]
    cmd += [str(f.data), "--out", str(f.out), "--preset", preset, "--quiet"]
    cmd += [a for s in _sets(f.overrides) for a in ("--set", s)]
    return cmd + (["--overwrite"] if f.action == "overwrite" else [])


def _tail(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def run_fits(fits: list[Fit], args: argparse.Namespace, info: dict) -> None:
    """Run the fits (subprocesses of catlas fit), at most --jobs at once; records in ``info``
    how each ran. A failed fit stops new launches; the running ones finish, then CatlasError."""
    queue = list(fits)
    running: dict[subprocess.Popen, tuple[Fit, float, Path]] = {}
    peak: dict[str, int] = {}
    failed: list[str] = []
    try:
        while queue or running:
            while queue and len(running) < args.jobs and not failed:
                f = queue.pop(0)
                log = args.out / f.sequence / "logs" / f"{f.out.name}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("w") as fh:
                    proc = subprocess.Popen(fit_command(f, args.preset), stdout=fh, stderr=subprocess.STDOUT)
                running[proc] = (f, time.perf_counter(), log)
                print(f"  started {f.key} ({f.action})", flush=True)
            if failed:
                queue.clear()
            for f, _, _ in running.values():
                peak[f.key] = max(peak.get(f.key, 0), len(running))
            for proc in [p for p in running if p.poll() is not None]:
                f, t0, log = running.pop(proc)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    failed.append(f"{f.key} (exit {proc.returncode}: {_tail(log)}; log {log})")
                    continue
                s = json.loads((f.out / SUMMARY).read_text())
                info[f.key] = {"jobs": args.jobs, "threads": s.get("threads"), "concurrent": peak[f.key],
                               "cpus": os.cpu_count(), "wall_s": round(wall, 1)}
                print(f"  finished {f.key}: {s['iterations']} iterations, train {s['train_seconds']:.1f} s "
                      f"(wall {wall:.0f} s, {peak[f.key]} fit(s) at once)", flush=True)
            if running:
                time.sleep(0.2)
    except KeyboardInterrupt:
        for proc in running:  # SIGTERM: the fits checkpoint and stop resumably (a 2nd SIGINT would not)
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    if failed:
        raise CatlasError("fit failed: " + "; ".join(failed))


# ---------------------------------------------------------------------------- evaluation


def seconds_at(run_dir: Path, iterations: list[int]) -> dict[int, float]:
    """Training seconds at each iteration from losses.csv (linear between logged iterations)."""
    with (run_dir / "losses.csv").open(newline="") as fh:
        logged = sorted((int(r["iteration"]), float(r["seconds"])) for r in csv.DictReader(fh))
    its = np.array([0] + [i for i, _ in logged], float)
    secs = np.array([0.0] + [s for _, s in logged])
    return {it: round(float(np.interp(it, its, secs)), 3) for it in iterations}


def evaluate_fit(f: Fit, args: argparse.Namespace, rows: list[dict], info: dict) -> list[dict]:
    """This fit's rows of curves.csv: the kept ones (same pairs, a snapshot or the final
    iteration) plus every missing snapshot and the final iteration, evaluated."""
    summary = json.loads((f.out / SUMMARY).read_text())
    final = int(summary["iterations"])
    snaps = [i for i in list_snapshots(f.out) if i <= final]
    wanted = sorted(set(snaps) | {final})
    secs = seconds_at(f.out, wanted)
    how = info.get(f.key, {})
    kept = {int(r["iteration"]): r for r in rows if int(r["pairs"]) == args.pairs}
    out = []
    for it in wanted:
        if it in kept:
            out.append(kept[it])
            continue
        run = load_run(f.out, snapshot=it if it in snaps else None)
        result = evaluate(run, load_gt(run), EvalSettings(pairs=args.pairs, seed=EVAL_SEED))
        code = result.summary["conventions"]["code"]
        out.append({"sequence": f.sequence, "method": f.method, "label": args.label or "", "seed": f.seed,
                    "iteration": it, "seconds": secs[it], **{k: code[k]["mean"] for k in METRICS},
                    "iterations": final, "jobs": how.get("jobs", ""), "threads": summary.get("threads", ""),
                    "concurrent": how.get("concurrent", ""), "cpus": how.get("cpus", ""),
                    "pairs": args.pairs, "run": str(f.out)})
        r = out[-1]
        print(f"    {f.key} it {it:>7} {r['seconds']:8.1f} s  " + "  ".join(
            f"{k} {r[k]:.3f}" for k in METRICS), flush=True)
    return out


def _ident(r: dict) -> tuple:
    return (r["sequence"], r["method"], r["label"] or "", int(r["seed"]))


def read_curves(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_curves(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: (*_ident(r), int(r["iteration"]))))
    atomic_write_text(path, buf.getvalue())


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------- curves, table


def seed_curves(rows: list[dict]) -> dict[int, list[dict]]:
    by_seed: dict[int, list[dict]] = {}
    for r in rows:
        by_seed.setdefault(int(r["seed"]), []).append(r)
    return {s: sorted(rs, key=lambda r: int(r["iteration"])) for s, rs in sorted(by_seed.items())}


def aligned(curves: dict[int, list[dict]]) -> list[list[dict]]:
    """Per snapshot index, one row per seed: the first n-1 snapshots and the final one, n the
    fewest any seed has (time-budgeted fits may differ by a snapshot)."""
    n = min(len(c) for c in curves.values())
    return [[c[k] for c in curves.values()] for k in range(n - 1)] + [[c[-1] for c in curves.values()]]


def plot_sequence(path: Path, sequence: str, groups: dict[str, list[dict]], nearest: dict | None,
                  args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.8))
    for k, (name, rows) in enumerate(groups.items()):
        steps = aligned(seed_curves(rows))
        x = [np.mean([_num(r["seconds"]) for r in step]) for step in steps]
        for ax, m in zip(axes, METRICS):
            v = np.array([[_num(r[m]) for r in step] for step in steps])
            color = f"C{k}"
            ax.plot(x, v.mean(axis=1), marker="o", ms=3, color=color, label=name)
            if v.shape[1] > 1:
                ax.fill_between(x, v.min(axis=1), v.max(axis=1), color=color, alpha=0.2, lw=0)
    for ax, m in zip(axes, METRICS):
        if nearest is not None and nearest.get(m) is not None:
            ax.axhline(nearest[m], color="k", ls="--", lw=1, label="nearest vertex")
        ax.set_xlabel("training seconds")
        ax.set_ylabel(f"{m} ({UNIT[m]})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{sequence}: preset {args.preset}, {budget_text(args)}, seeds {args.seeds}, "
                 f"{jobs_text(args.jobs)}; {args.pairs} pairs; mean over seeds, band min-max",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reach_seconds(curve: list[dict], metric: str, threshold: float) -> float | None:
    """Training seconds of the first snapshot at or below ``threshold``; None if never."""
    for r in curve:
        if _num(r[metric]) <= threshold:
            return _num(r["seconds"])
    return None


def reach_cell(curves: dict[int, list[dict]], metric: str, threshold: float) -> str:
    """'mean / worst' seconds over seeds; '-' for what is undefined, with (k/n) reached."""
    hits = [reach_seconds(c, metric, threshold) for c in curves.values()]
    got = [h for h in hits if h is not None]
    if len(got) == len(hits):
        return f"{np.mean(got):.0f} / {max(got):.0f}"
    return f"- / - ({len(got)}/{len(hits)})"


def _fmt_threshold(x: float) -> str:
    return f"{x:g}"


def sequence_table(sequence: str, groups: dict[str, list[dict]], nearest: dict | None,
                   args: argparse.Namespace) -> str:
    threads = CPUS // args.jobs
    lines = [f"### {sequence}", "",
             f"preset `{args.preset}`, {budget_text(args)}, seeds {args.seeds}, {jobs_text(args.jobs)} "
             f"({threads} thread{'s' if threads != 1 else ''} each, {os.cpu_count()} CPUs), "
             f"{args.pairs} pairs (seed {EVAL_SEED}); {UNITS}.", "",
             "Final snapshot, mean +- sample std over seeds:", "",
             "| method | msL2 | mr | mAUC | CD | iterations | train s | snapshots |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in groups.items():
        curves = seed_curves(rows)
        finals = [{**{m: _num(c[-1][m]) for m in METRICS}, "train_s": _num(c[-1]["seconds"]),
                   "iterations": int(c[-1]["iterations"])} for c in curves.values()]
        finals = [{k: (None if isinstance(v, float) and v != v else v) for k, v in f.items()} for f in finals]
        s = row_stats(finals)
        n_snap = sorted({len(c) for c in curves.values()})
        lines.append(f"| {name} | " + " | ".join(cell(s[m]) for m in METRICS)
                     + f" | {s['iterations']} | {cell(s['train_s'], 1)} | "
                     + "-".join(map(str, (n_snap[0], n_snap[-1]) if len(n_snap) > 1 else n_snap)) + " |")
    if nearest is not None:
        lines.append(f"| {NEAREST} | " + " | ".join("-" if nearest.get(m) is None else f"{nearest[m]:.2f}"
                                                     for m in METRICS) + " | - | - | - |")
    heads = ([f"msL2 <= {_fmt_threshold(x)}" for x in args.thresholds_msl2]
             + [f"CD <= {_fmt_threshold(y)}" for y in args.thresholds_cd])
    lines += ["", "Training seconds to reach (first snapshot at or below): mean over seeds / worst seed:", "",
              "| method | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for name, rows in groups.items():
        curves = seed_curves(rows)
        cells = ([reach_cell(curves, "msL2", x) for x in args.thresholds_msl2]
                 + [reach_cell(curves, "CD", y) for y in args.thresholds_cd])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def guarded(prog: str, body, args: argparse.Namespace) -> int:
    """Exit status of ``body(args)``: a CatlasError as one line and 2, Ctrl-C as a hint to
    continue with --reuse and 130 (the benchmarks that plan fits with --reuse)."""
    try:
        return body(args)
    except CatlasError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with the same command and --reuse", file=sys.stderr)
        return 130


def run_and_evaluate(fits: list, args: argparse.Namespace, info: dict, info_file: Path, evaluate) -> None:
    """Run ``fits`` (those not kept) with --jobs and call ``evaluate(fit)`` for every fit: with
    --jobs 1 right after its fit (nothing else runs then), with --jobs 2 once no fit runs, so
    evaluation never competes with a timed fit. ``info`` (fits.json) is written after each run."""
    def run(batch: list) -> None:
        todo = [f for f in batch if f.action != "reuse"]
        if todo:
            run_fits(todo, args, info)
            atomic_write_text(info_file, json.dumps(info, indent=2, sort_keys=True) + "\n")

    if args.jobs == 1:
        for f in fits:
            run([f])
            evaluate(f)
    else:
        run(fits)
        for f in fits:
            evaluate(f)


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, parse_args(argv))


def _main(args: argparse.Namespace) -> int:
    data = prepare_data(args)
    if not data:
        print("nothing to do: no sequence available")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    budget_file, info_file, curves_file = args.out / "budget.json", args.out / "fits.json", args.out / "curves.csv"
    cache = json.loads(budget_file.read_text()) if budget_file.exists() else {}
    fits = plan(args, data, cache)
    if cache:
        atomic_write_text(budget_file, json.dumps(cache, indent=2) + "\n")
    for k, f in enumerate(fits, 1):
        print(f"[{k}/{len(fits)}] {describe(f)}")
    refused = sum(f.action == "refused" for f in fits)
    if refused:
        raise CatlasError(f"{refused} run folder(s) exist (REFUSED above); use --reuse or --overwrite")
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    rows = read_curves(curves_file)
    refit = {(f.sequence, f.method, args.label or "", f.seed) for f in fits if f.action in ("fit", "overwrite")}
    mine = {(s, m, args.label or "") for s in data for m in args.methods}
    rows = [r for r in rows if _ident(r) not in refit  # this invocation's variants: its seeds only
            and not (_ident(r)[:3] in mine and _ident(r)[3] not in args.seeds)]

    def evaluate_one(f: Fit) -> None:
        nonlocal rows
        ident = (f.sequence, f.method, args.label or "", f.seed)
        mine = [r for r in rows if _ident(r) == ident]
        rows = [r for r in rows if _ident(r) != ident] + evaluate_fit(f, args, mine, info)
        write_curves(curves_file, rows)  # after every fit: an interruption keeps the work

    run_and_evaluate(fits, args, info, info_file, evaluate_one)

    tables = []
    for sequence, path in data.items():
        nearest_job = Job(sequence, path, NEAREST, None, args.out / sequence / NEAREST, action="score")
        nearest = score_nearest(nearest_job, args)
        groups: dict[str, list[dict]] = {}
        for r in rows:
            if r["sequence"] == sequence:
                groups.setdefault(variant(r["method"], r["label"] or None), []).append(r)
        current = [variant(m, args.label) for m in args.methods]
        groups = {n: groups[n] for n in [*current, *sorted(set(groups) - set(current))] if n in groups}
        plot_sequence(args.out / f"curves_{sequence}.png", sequence, groups, nearest, args)
        tables.append(sequence_table(sequence, groups, nearest, args))
    table = "\n\n".join(tables)
    print("\n" + table)
    atomic_write_text(args.out / "table.md", table + "\n")
    print(f"\nwrote {curves_file}, {args.out / 'table.md'} and "
          + ", ".join(str(args.out / f"curves_{s}.png") for s in data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
