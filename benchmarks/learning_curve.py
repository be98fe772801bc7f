"""Correspondence accuracy against training wall time, from a run's snapshots (one PNG).

    .venv/bin/catlas fit ../shared/data/cat_walk --out runs/fast --preset fast --set train.snapshot_every=1000
    .venv/bin/python benchmarks/learning_curve.py runs/fast runs/paper --pairs 200 --png docs/images/learning_curve.png

Each snapshot (``train.snapshot_every``) is evaluated with the paper protocol (authors'-code
convention) on ``--pairs`` seeded frame pairs; the training seconds at that iteration come from
the run's losses.csv. Prints a table and writes the PNG and a CSV next to it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from catlas import load_run  # noqa: E402
from catlas.evaluate import EvalSettings, evaluate, load_gt  # noqa: E402
from catlas.train.checkpoint import list_snapshots  # noqa: E402


def seconds_at(run_dir: Path) -> dict[int, float]:
    with (run_dir / "losses.csv").open(newline="") as f:
        return {int(r["iteration"]): float(r["seconds"]) for r in csv.DictReader(f)}


def curve(run_dir: Path, pairs: int) -> list[dict]:
    secs = seconds_at(run_dir)
    rows = []
    for it in list_snapshots(run_dir):
        run = load_run(run_dir, snapshot=it)
        res = evaluate(run, load_gt(run), EvalSettings(pairs=pairs))
        code = res.summary["conventions"]["code"]
        rows.append({"run": run_dir.name, "iteration": it, "seconds": secs.get(it, float("nan")),
                     **{k: code[k]["mean"] for k in ("msL2", "mr", "mAUC", "CD")}})
        print(f"{run_dir.name:>20} it {it:>7} {rows[-1]['seconds']:8.0f} s  msL2 {rows[-1]['msL2']:7.2f}  "
              f"mr {rows[-1]['mr']:5.2f}  mAUC {rows[-1]['mAUC']:6.2f}  CD {rows[-1]['CD']:6.3f}", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--png", type=Path, default=Path("learning_curve.png"))
    args = p.parse_args()
    rows = [r for run_dir in args.runs for r in curve(run_dir, args.pairs)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(r["run"] for r in rows):
        rs = [r for r in rows if r["run"] == name]
        for ax, key in zip(axes, ("msL2", "mAUC")):
            ax.plot([r["seconds"] / 60 for r in rs], [r[key] for r in rs], marker="o", label=name)
    for ax, key, unit in zip(axes, ("msL2", "mAUC"), ("x1e3, lower is better", "%, higher is better")):
        ax.set_xlabel("training wall time [min]")
        ax.set_ylabel(f"{key} ({unit})")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"cat_walk correspondence accuracy vs training time ({args.pairs} pairs, code convention)")
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=100)
    with args.png.with_suffix(".csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.png} and {args.png.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
