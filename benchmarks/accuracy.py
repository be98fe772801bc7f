"""Multi-seed accuracy benchmark: fit mca, atlasnet and dsr (and score the nearest-vertex
baseline) on several sequences with one budget, evaluate with the paper protocol, and print one
Markdown table per sequence.

    # equal training time per method (5 min each), 3 seeds, all sequences
    .venv/bin/python benchmarks/accuracy.py --minutes 5
    # the plan only (with --minutes the step timing runs, nothing is fitted)
    .venv/bin/python benchmarks/accuracy.py --minutes 5 --dry-run
    # continue an interrupted benchmark (finished fits are kept, unfinished ones resumed)
    .venv/bin/python benchmarks/accuracy.py --minutes 5 --reuse
    # the same iterations for every method, one sequence
    .venv/bin/python benchmarks/accuracy.py --sequences cat_walk --iterations 3000 --seeds 0 1
    # an ablation as an extra row (the earlier rows of the same --out stay in the table)
    .venv/bin/python benchmarks/accuracy.py --minutes 5 --methods mca --label mc1 \\
        --methods-set mca:loss.alpha_mc=1
    # seconds: a smoke test
    .venv/bin/python benchmarks/accuracy.py --sequences sheet --methods mca nearest --seeds 0 1 \\
        --preset tiny --iterations 5 --pairs 20 --out /tmp/acc

Sequences: cat_walk = ../shared/data/cat_walk (skipped with a message when absent; --cat-walk DIR
for another copy); creature, sheet and humanoid = the built-in walking creature, bending sheet
and marching humanoid (catlas.data.write_example, 24 frames, written to --out/data/<name>). On
creature and sheet parts move little, so nearest is hard to beat (msL2 28.8 and 23.5); on
humanoid the limbs swing past each other (nearest msL2 about 100; cat_walk 62.5).

Methods: mca, atlasnet, dsr are fitted (catlas.fit, --preset, --set for every fit, --methods-set
METHOD:SECTION.KEY=VALUE for one method; the method, seed and --device are set by the script).
nearest maps each GT vertex of frame A to the nearest GT vertex of frame B
(catlas.evaluate.evaluate_nearest): no fit, the same for every seed.

Budget: --iterations N for every method; or --minutes X, equal training time: for each method
the median time of one training step of its config (catlas.bench.time_steps: 3 warm-up steps,
then 4 rounds of 5 timed steps, every method timed in turn in each round, on random clouds of
the sequence's shape: frames x points per frame) gives iterations = X * 60 / step time (stored
in --out/budget.json; --reuse reuses it, so the configs still match); or neither: the preset's. A train.iterations in --methods-set wins.

Evaluation: the protocol of `catlas eval` with --pairs pairs drawn with seed 0, the same pairs for
every method and seed; each run folder gets eval/ (metrics.json, pairs.csv, pck.png).

Layout: --out/<sequence>/<method>_s<seed>[_<label>] (normal run folders); nearest in
--out/<sequence>/nearest[_<label>]/eval (always rescored). Existing run folders are refused
unless --reuse (same config: a finished fit is kept, an unfinished one resumed) or --overwrite;
all folders are checked before anything runs.

Output: per sequence, rows = methods (a --label variant is a row "method (label)"), columns msL2,
mr, mAUC, CD as mean +- std over seeds (authors'-code convention), iterations and training
seconds, then whether mca beats every other method on msL2, mr and mAUC by more than the larger
of the two stds (the project's target). Printed and written to --out/table.md. --out/results.json
keeps each variant's per-seed figures; variants recorded there by earlier invocations (another
--label) are shown under this invocation's rows, with their settings in a footnote.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import catlas
from catlas.bench import time_steps
from catlas.config import METHODS, PRESETS, FitConfig, make_config, merge_dicts, method_name, parse_override
from catlas.data import list_frames, load_sequence, write_example
from catlas.errors import CatlasError
from catlas.evaluate import EvalSettings, evaluate, evaluate_nearest, load_gt
from catlas.evaluate.nearest import NEAREST
from catlas.evaluate.report import read_metrics, write_eval
from catlas.run import CONFIG, SUMMARY
from catlas.train.budget import ROUNDS, STEPS_PER_ROUND, WARMUP_STEPS, iterations_for
from catlas.train.loop import Interrupted
from catlas.train.threads import fit_threads

ROOT = Path(__file__).resolve().parents[1]
CAT_WALK = ROOT.parent / "shared" / "data" / "cat_walk"
SEQUENCES = ("cat_walk", "creature", "sheet", "humanoid")
ALL_METHODS = (*METHODS, NEAREST)
METRICS = ("msL2", "mr", "mAUC", "CD")
TARGET = {"msL2": -1, "mr": -1, "mAUC": +1}  # the target's metrics; +1: higher is better
SYNTHETIC_FRAMES = 24
EVAL_SEED = 0
UNITS = ("authors'-code convention: msL2 x1e3 (mean Euclidean distance), mr %, mAUC % (PCK on "
         "squared distances), CD x1e3 (squared); normalised units (frame 0's longest side = 1)")


@dataclass
class Job:
    """One planned fit + evaluation, or (method nearest) one baseline evaluation."""

    sequence: str
    data: Path
    method: str
    seed: int | None
    out: Path
    config: FitConfig | None = None
    action: str = "fit"
    """fit, overwrite, reuse, resume, score (nearest) or refused."""
    why: str = ""


# ---------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequences", nargs="+", choices=SEQUENCES, default=list(SEQUENCES))
    p.add_argument("--methods", nargs="+", type=method_name, choices=ALL_METHODS, default=list(ALL_METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, help="training steps of every method")
    budget.add_argument("--minutes", type=float, help="training minutes of every method (timed steps)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="setting for every fit (repeatable), e.g. loss.alpha_motion=0")
    p.add_argument("--methods-set", action="append", default=[], metavar="METHOD:SECTION.KEY=VALUE",
                   help="setting for one method's fits (repeatable), e.g. mca:loss.alpha_mc=1")
    p.add_argument("--label", help="name of this variant: folder suffix and row name")
    p.add_argument("--pairs", type=int, default=500, help="evaluation frame pairs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_accuracy")
    p.add_argument("--cat-walk", type=Path, default=CAT_WALK, metavar="DIR", help="cat_walk's frames")
    p.add_argument("--reuse", action="store_true", help="keep (or resume) fits with the same config")
    p.add_argument("--overwrite", action="store_true", help="replace existing run folders")
    p.add_argument("--dry-run", action="store_true", help="print the planned fits and iterations only")
    p.add_argument("--progress", action="store_true", help="show each fit's progress bar")
    args = p.parse_args(argv)
    args.methods, args.seeds = list(dict.fromkeys(args.methods)), list(dict.fromkeys(args.seeds))
    if args.label is not None and not re.fullmatch(r"[A-Za-z0-9.-]+", args.label):
        p.error(f"--label {args.label!r}: use letters, digits, '.' and '-'")
    if args.pairs < 1 or (args.iterations is not None and args.iterations < 1) \
            or (args.minutes is not None and not args.minutes > 0):
        p.error("--pairs, --iterations and --minutes must be positive")
    args.method_sets = {}
    for text in args.methods_set:
        method, sep, setting = text.partition(":")
        method = method_name(method)
        if not sep or method not in METHODS or method not in args.methods:
            p.error(f"--methods-set {text!r}: expected METHOD:SECTION.KEY=VALUE with METHOD one of "
                    f"the fitted --methods ({', '.join(m for m in args.methods if m in METHODS)})")
        args.method_sets.setdefault(method, []).append(setting)
    return args


def base_overrides(args: argparse.Namespace) -> dict:
    """--device and --set (every fit; also the data settings of nearest's GT)."""
    o: dict = {"device": args.device}
    for text in args.set:
        o = merge_dicts(o, parse_override(text))
    return o


def fit_overrides(args: argparse.Namespace, method: str, seed: int, iterations: int | None) -> dict:
    """Overrides of one fit, in order: --device, --set, the budget, --methods-set, method and seed."""
    o = base_overrides(args)
    if iterations is not None:
        o = merge_dicts(o, {"train": {"iterations": iterations}})
    for text in args.method_sets.get(method, []):
        o = merge_dicts(o, parse_override(text))
    return merge_dicts(o, {"loss": {"method": method}, "train": {"seed": seed}})


def variant(method: str, label: str | None) -> str:
    """Row name: ``mca`` or ``mca (label)``."""
    return method if label is None else f"{method} ({label})"


def folder(method: str, seed: int | None, label: str | None) -> str:
    return method + ("" if seed is None else f"_s{seed}") + ("" if label is None else f"_{label}")


def common_text(args: argparse.Namespace) -> str:
    """The settings every fitted row of this invocation shares (table heading)."""
    fit_minutes = base_overrides(args).get("train", {}).get("minutes")
    budget = (f"{fit_minutes:g} training minutes per fit, timed by each fit (train.minutes)"
              if fit_minutes is not None else
              f"{args.iterations} iterations" if args.iterations is not None else
              f"{args.minutes:g} training minutes per method" if args.minutes is not None
              else "the preset's iterations")
    return (f"preset `{args.preset}`, {budget}, seeds {args.seeds}, {args.pairs} pairs"
            + (f", --set {' '.join(args.set)}" if args.set else ""))


def settings_text(args: argparse.Namespace, method: str) -> str:
    """All settings of one method's rows (stored with its records, footnotes)."""
    if method == NEAREST:
        return f"{args.pairs} pairs"
    extra = args.method_sets.get(method, [])
    return common_text(args) + (f", {method} only: {' '.join(extra)}" if extra else "")


# ---------------------------------------------------------------------------- data and budget


def prepare_data(args: argparse.Namespace) -> dict[str, Path]:
    """Sequence name -> folder of frames; cat_walk skipped (with a message) when absent."""
    data = {}
    for name in args.sequences:
        if name == "cat_walk":
            if not args.cat_walk.is_dir():
                print(f"skipped cat_walk: {args.cat_walk} is absent")
                continue
            data[name] = args.cat_walk
        else:
            path = args.out / "data" / name
            write_example(path, n_frames=SYNTHETIC_FRAMES, kind=name, force=True)
            data[name] = path
    return data


def budget_iterations(args: argparse.Namespace, sequence: str, data: Path, methods: list[str],
                      cache: dict) -> dict[str, int | None]:
    """Iterations of each fitted method on a sequence: --iterations, --minutes (timed), or None.

    With --minutes the methods' steps are timed together, interleaved (catlas.bench.time_steps:
    each round times every method in turn), so that a change of the machine's speed while
    timing does not tilt the equal-time budgets; the result is cached in budget.json.
    """
    if args.minutes is None:
        return {m: args.iterations for m in methods}
    n_frames = len(list_frames(data))
    entries, todo = {}, {}
    for method in methods:
        cfg = make_config(args.preset, fit_overrides(args, method, args.seeds[0], None))
        plain = cfg.to_dict()
        plain["train"] = {**plain["train"], "iterations": None, "seed": None}
        signature = json.dumps({"config": plain, "frames": n_frames, "minutes": args.minutes}, sort_keys=True)
        key = f"{sequence}/{folder(method, None, args.label)}"
        entry = cache.get(key)
        if args.reuse and entry and entry["signature"] == signature:
            entries[method] = entry
        else:
            todo[method] = (cfg, key, signature)
    if todo:
        with fit_threads(c for c, _, _ in todo.values()):  # as catlas.fit sets them
            timings = time_steps({m: c for m, (c, _, _) in todo.items()}, repeats=STEPS_PER_ROUND,
                                 warmup=WARMUP_STEPS, n_frames=n_frames, rounds=ROUNDS)
        for method, (_, key, signature) in todo.items():
            step = timings[method].median_s
            entries[method] = cache[key] = {"signature": signature, "step_s": step,
                                            "iterations": iterations_for(args.minutes, step)}
    for method in methods:
        entry = entries[method]
        print(f"budget {sequence} {variant(method, args.label)}: {entry['step_s'] * 1e3:.2f} ms per step "
              f"-> {entry['iterations']} iterations for {args.minutes:g} min")
    return {m: entries[m]["iterations"] for m in methods}


# ---------------------------------------------------------------------------- planning


def fit_action(out: Path, cfg: FitConfig, args: argparse.Namespace) -> tuple[str, str]:
    """(action, reason) for an existing or new run folder (see the module docstring)."""
    if not out.exists() or not any(out.iterdir()):
        return "fit", ""
    if args.reuse and (out / CONFIG).exists():
        try:
            same = FitConfig.load(out / CONFIG).to_dict() == cfg.to_dict()
        except (OSError, CatlasError):
            same = False
        if same:
            return ("reuse" if (out / SUMMARY).exists() else "resume"), ""
        why = "exists with another config"
    else:
        why = "exists"
    if args.overwrite:
        return "overwrite", why
    return "refused", why + ("; use --overwrite" if args.reuse else "; use --reuse or --overwrite")


def plan(args: argparse.Namespace, data: dict[str, Path], budgets: dict) -> list[Job]:
    jobs = []
    for sequence, path in data.items():
        fitted = [m for m in args.methods if m != NEAREST]
        iterations_of = budget_iterations(args, sequence, path, fitted, budgets) if fitted else {}
        for method in args.methods:
            if method == NEAREST:
                out = args.out / sequence / folder(method, None, args.label)
                jobs.append(Job(sequence, path, method, None, out, action="score"))
                continue
            iterations = iterations_of[method]
            for seed in args.seeds:
                cfg = make_config(args.preset, fit_overrides(args, method, seed, iterations))
                out = args.out / sequence / folder(method, seed, args.label)
                jobs.append(Job(sequence, path, method, seed, out, cfg, *fit_action(out, cfg, args)))
    return jobs


def describe(job: Job) -> str:
    who = f"{job.sequence} {job.method}" + ("" if job.seed is None else f" seed {job.seed}")
    if job.method == NEAREST:
        return f"{who}: score the baseline (no fit) -> {job.out}"
    what = {"fit": "fit", "overwrite": "refit", "reuse": "keep", "resume": "resume",
            "refused": "REFUSED"}[job.action]
    why = f" ({job.why})" if job.why else ""
    return f"{who}: {what} {job.config.train.iterations} iterations -> {job.out}{why}"


# ---------------------------------------------------------------------------- running


def run_job(job: Job, args: argparse.Namespace) -> dict:
    """Fit (or keep / resume) and evaluate one job; returns its record for results.json."""
    if job.method == NEAREST:
        return score_nearest(job, args)
    with fit_threads([job.config]):  # train.threads holds for the evaluation too (side-by-side runs)
        return _fit_and_evaluate(job, args)


def _fit_and_evaluate(job: Job, args: argparse.Namespace) -> dict:
    if job.action in ("fit", "overwrite"):
        catlas.fit(job.data, job.out, config=job.config, overwrite=job.action == "overwrite",
                   progress=args.progress)
    elif job.action == "resume":
        catlas.fit(None, job.out, resume=True, progress=args.progress)
    fit_summary, metrics = evaluate_run(job.out, args.pairs, keep=job.action == "reuse")
    return record(job, args, metrics, fit_summary["iterations"], fit_summary["train_seconds"])


def evaluate_run(out: Path, pairs: int, gt: Path | None = None, keep: bool = False) -> tuple[dict, dict]:
    """(the fit's summary.json, the evaluation summary) of the finished run folder ``out``: the
    protocol of ``catlas eval RUN [--gt GT] --pairs P`` (pairs drawn with seed EVAL_SEED; GT:
    ``gt`` in the input's units, or the vertices stored with the run), written to ``out/eval``.
    keep: use ``out/eval/metrics.json`` instead when it scored the run's final iteration with the
    same pairs and seed (a run folder is always scored against the same GT)."""
    fit_summary = json.loads((out / SUMMARY).read_text())
    metrics = read_metrics(out) if keep else None
    settings = EvalSettings(pairs=pairs, seed=EVAL_SEED)
    if not (metrics and metrics.get("run_iteration") == fit_summary["iterations"]
            and metrics["settings"]["pairs"] == settings.pairs
            and metrics["settings"]["seed"] == settings.seed):
        run = catlas.load_run(out)
        result = evaluate(run, load_gt(run, gt), settings)
        write_eval(out, result, overwrite=True)
        metrics = result.summary
    return fit_summary, metrics


def score_nearest(job: Job, args: argparse.Namespace) -> dict:
    """The nearest-vertex baseline on the sequence's GT, normalised as a fit would store it."""
    cfg = make_config(args.preset, base_overrides(args))
    seq = load_sequence(job.data, cfg.data, np.random.default_rng(0))
    if seq.vertices is None:
        raise CatlasError(f"{job.data}: frames do not share one vertex order; nearest needs GT vertices")
    result = evaluate_nearest(seq.vertices.astype(np.float64), EvalSettings(pairs=args.pairs, seed=EVAL_SEED))
    write_eval(job.out, result, overwrite=True)
    return record(job, args, result.summary, None, None)


def record(job: Job, args: argparse.Namespace, metrics: dict, iterations: int | None,
           train_s: float | None) -> dict:
    code = metrics["conventions"]["code"]
    values = {k: code[k]["mean"] for k in METRICS}
    return {"sequence": job.sequence, "method": job.method, "label": args.label, "seed": job.seed,
            "run": str(job.out), **{k: None if v != v else v for k, v in values.items()},
            "iterations": iterations, "train_s": train_s, "settings": settings_text(args, job.method)}


def short(rec: dict) -> str:
    cells = [f"{k} {'-' if rec[k] is None else format(rec[k], '.3f')}" for k in METRICS]
    if rec["train_s"] is not None:
        cells.append(f"{rec['iterations']} it, train {rec['train_s']:.0f} s")
    return ", ".join(cells)


# ---------------------------------------------------------------------------- tables


def row_stats(recs: list[dict]) -> dict:
    """Mean and sample std (ddof=1; 0 for one seed) over seeds of every metric (None when
    undefined), iterations, train seconds."""
    out = {}
    for k in (*METRICS, "train_s"):
        v = [r[k] for r in recs if r[k] is not None]
        out[k] = (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) if v else None
    its = sorted({r["iterations"] for r in recs if r["iterations"] is not None})
    out["iterations"] = "-" if not its else str(its[0]) if len(its) == 1 else f"{its[0]}-{its[-1]}"
    return out


def cell(ms: tuple[float, float] | None, digits: int = 2) -> str:
    return "-" if ms is None else f"{ms[0]:.{digits}f} +- {ms[1]:.{digits}f}"


def target_lines(rows: dict[str, tuple[str, dict]]) -> list[str]:
    """Per mca row: does it beat every other method on msL2, mr and mAUC by more than the larger std?"""
    mca = [name for name, (method, _) in rows.items() if method == "mca"]
    others = [name for name, (method, _) in rows.items() if method != "mca"]
    if not mca:
        return ["Target: not assessed (no mca row)"]
    lines = []
    for name in mca:
        head = f"Target: {name} beats {', '.join(others) or 'every other method'} on msL2, mr and mAUC by more than the larger std:"
        if not others:
            lines.append(f"{head} not assessed (no other method)")
            continue
        s, fails = rows[name][1], []
        for other in others:
            o = rows[other][1]
            for k, sign in TARGET.items():
                margin, need = sign * (s[k][0] - o[k][0]), max(s[k][1], o[k][1])
                if not margin > need:
                    fails.append(f"{k} vs {other} ({s[k][0]:.2f} vs {o[k][0]:.2f}: margin "
                                 f"{margin:.2f}, std {need:.2f})")
        lines.append(f"{head} {'**yes**' if not fails else '**no**: ' + '; '.join(fails)}")
    return lines


def sequence_table(sequence: str, recs: list[dict], current: list[str], args: argparse.Namespace) -> str:
    """One sequence's Markdown table: this invocation's rows, then earlier variants (marked *)."""
    groups: dict[str, list[dict]] = {}
    for r in recs:
        groups.setdefault(variant(r["method"], r["label"]), []).append(r)
    names = [n for n in current if n in groups] + sorted(n for n in groups if n not in current)
    rows = {n: (groups[n][0]["method"], row_stats(groups[n])) for n in names}
    lines = [f"### {sequence}", "",
             f"{common_text(args)}; mean +- sample std over seeds (evaluation pairs drawn with seed "
             f"{EVAL_SEED}, the same for every method); {UNITS}.", "",
             "| method | msL2 | mr | mAUC | CD | iterations | train s |",
             "|---|---|---|---|---|---|---|"]
    for n in names:
        s = rows[n][1]
        mark = "" if n in current else " \\*"
        lines.append(f"| {n}{mark} | " + " | ".join(cell(s[k]) for k in METRICS)
                     + f" | {s['iterations']} | {cell(s['train_s'], 1)} |")
    notes = [f"{n}: {' '.join(args.method_sets[rows[n][0]])}" for n in names
             if n in current and rows[n][0] in args.method_sets]
    notes += [f"\\* {n}: from an earlier invocation ({groups[n][0]['settings']}; seeds "
              f"{sorted({r['seed'] for r in groups[n] if r['seed'] is not None}) or '-'})"
              for n in names if n not in current]
    return "\n".join(lines + [""] + [f"- {t}" for t in notes + target_lines(rows)])


def merge_results(path: Path, new: list[dict]) -> list[dict]:
    """results.json with this invocation's variants replaced by ``new``."""
    old = json.loads(path.read_text()) if path.exists() else []
    mine = {(r["sequence"], r["method"], r["label"]) for r in new}
    return [r for r in old if (r["sequence"], r["method"], r["label"]) not in mine] + new


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except CatlasError as e:
        print(f"accuracy: error: {e}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as e:
        print(f"accuracy: interrupted ({e}); continue with the same command and --reuse", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    data = prepare_data(args)
    if not data:
        print("nothing to do: no sequence available")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    budget_file = args.out / "budget.json"
    budgets = json.loads(budget_file.read_text()) if budget_file.exists() else {}
    jobs = plan(args, data, budgets)
    if args.minutes is not None and not args.dry_run:
        budget_file.write_text(json.dumps(budgets, indent=2) + "\n")
    for k, job in enumerate(jobs, 1):
        print(f"[{k}/{len(jobs)}] {describe(job)}")
    refused = sum(j.action == "refused" for j in jobs)
    if args.dry_run:
        print(f"dry run: {len(jobs)} jobs planned" + (f", {refused} refused" if refused else ""))
        return 0
    if refused:
        print(f"accuracy: error: {refused} run folder(s) exist (REFUSED above); use --reuse or "
              "--overwrite", file=sys.stderr)
        return 2
    records = []
    for k, job in enumerate(jobs, 1):
        t0 = time.perf_counter()
        print(f"[{k}/{len(jobs)}] {job.sequence} {variant(job.method, args.label)}"
              + ("" if job.seed is None else f" seed {job.seed}") + " ...", flush=True)
        records.append(run_job(job, args))
        print(f"        {short(records[-1])} (wall {time.perf_counter() - t0:.0f} s)", flush=True)
    results = merge_results(args.out / "results.json", records)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    current = [variant(m, args.label) for m in args.methods]
    table = "\n\n".join(sequence_table(s, [r for r in results if r["sequence"] == s], current, args)
                        for s in data)
    print("\n" + table)
    (args.out / "table.md").write_text(table + "\n")
    print(f"\nwrote {args.out / 'table.md'} and {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
