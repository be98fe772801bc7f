"""Fit ours, atlasnet and dsr on cat_walk with one budget, evaluate all, print a Markdown table.

    .venv/bin/python benchmarks/cat_walk.py --preset demo --iterations 1500 --seeds 0 1

Reads ../shared/data/cat_walk in place (skips with a message when it is absent). Each fit is a
normal run folder under --out (default runs/bench_cat_walk/<method>_s<seed>); the table
(mean +- std over seeds, authors'-code convention) is printed and written to --out/table.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import catlas
from catlas.config import merge_dicts, parse_override
from catlas.evaluate import EvalSettings, evaluate, load_gt
from catlas.evaluate.report import write_eval

ROOT = Path(__file__).resolve().parents[1]
CAT_WALK = ROOT.parent / "shared" / "data" / "cat_walk"
METRICS = ("msL2", "mr", "mAUC", "CD")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=CAT_WALK)
    p.add_argument("--preset", default="demo")
    p.add_argument("--iterations", type=int, default=None, help="default: the preset's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--methods", nargs="+", default=["ours", "atlasnet", "dsr"])
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_cat_walk")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra setting for every fit (repeatable), e.g. model.latent=per_frame")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the benchmark reads ../shared/data/cat_walk)")
        return 0
    rows: dict[str, list[dict]] = {m: [] for m in args.methods}
    for method in args.methods:
        for seed in args.seeds:
            out = args.out / f"{method}_s{seed}"
            overrides: dict = {"device": "cpu"}
            for text in args.set:
                overrides = merge_dicts(overrides, parse_override(text))
            overrides = merge_dicts(overrides, {"loss": {"method": method}, "train": {"seed": seed}})
            if args.iterations is not None:
                overrides["train"]["iterations"] = args.iterations
            t0 = time.perf_counter()
            run = catlas.fit(args.data, out, preset=args.preset, overrides=overrides, overwrite=True)
            wall = time.perf_counter() - t0
            result = evaluate(run, load_gt(run), EvalSettings(pairs=args.pairs))
            write_eval(out, result, overwrite=True)
            code = result.summary["conventions"]["code"]
            summary = json.loads((out / "summary.json").read_text())
            row = {k: code[k]["mean"] for k in METRICS}
            row.update(train_s=summary["train_seconds"], wall_s=wall, iterations=summary["iterations"])
            rows[method].append(row)
            print(f"{method} seed {seed}: " + ", ".join(f"{k} {row[k]:.3f}" for k in METRICS)
                  + f", train {row['train_s']:.0f} s", flush=True)
    table = _table(rows, args)
    print(table)
    (args.out / "table.md").write_text(table + "\n")
    return 0


def _table(rows: dict[str, list[dict]], args: argparse.Namespace) -> str:
    it = rows[next(iter(rows))][0]["iterations"]
    extra = f" ({', '.join(args.set)})" if args.set else ""
    head = (f"cat_walk, preset `{args.preset}`{extra}, {it} iterations, seeds {args.seeds}, {args.pairs} pairs; "
            "mean +- std over seeds; authors'-code convention (msL2 x1e3 mean Euclidean, mr %, "
            "mAUC % on squared distances, CD x1e3)\n\n"
            "| method | msL2 | mr | mAUC | CD | train s |\n|---|---|---|---|---|---|")
    lines = [head]
    for method, rs in rows.items():
        cells = []
        for k in (*METRICS, "train_s"):
            v = np.array([r[k] for r in rs])
            cells.append(f"{v.mean():.2f} +- {v.std():.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
