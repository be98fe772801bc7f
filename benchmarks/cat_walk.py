"""Fit mca, atlasnet and dsr on cat_walk with one budget, evaluate all, print a Markdown table.

    .venv/bin/python benchmarks/cat_walk.py --preset demo --iterations 1500 --seeds 0 1

A thin wrapper around benchmarks/accuracy.py (``--sequences cat_walk``) with this script's
defaults: preset demo, seeds 0 1, methods mca atlasnet dsr, --out runs/bench_cat_walk, existing
fits replaced (--overwrite). ``--data DIR`` is cat_walk's folder (skipped with a message when
absent); every other accuracy.py option passes through (--minutes, --reuse, --methods ... nearest,
--dry-run, ...). Fits are in --out/cat_walk/<method>_s<seed>; the table (mean +- std over seeds,
authors'-code convention) is printed and written to --out/table.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import ROOT, main  # noqa: E402

DEFAULTS = ["--sequences", "cat_walk", "--preset", "demo", "--seeds", "0", "1",
            "--methods", "mca", "atlasnet", "dsr", "--out", str(ROOT / "runs" / "bench_cat_walk"),
            "--overwrite"]


def translate(argv: list[str]) -> list[str]:
    """This script's ``--data DIR`` is accuracy.py's ``--cat-walk DIR``; later options win."""
    return DEFAULTS + [("--cat-walk" + a[len("--data"):]) if a == "--data" or a.startswith("--data=")
                       else a for a in argv]


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
