"""Where a fit's correspondences fail in time: msL2 binned by (frame A block, frame B block).

    .venv/bin/catlas fit ../shared/data/cat_walk --out runs/cat --set train.snapshot_every=1000
    .venv/bin/python benchmarks/frame_blocks.py runs/cat --pairs 200 --snapshots 2000 8000 14000

For the final weights (no --snapshots) or each listed snapshot, evaluates the run with the paper
protocol (authors'-code convention, --pairs seeded pairs) and prints overall msL2 and CD (x1e3)
and a matrix whose entry (r, c) is the mean msL2 (x1e3) of the pairs with frame A in block r and
frame B in block c (--block frames per block; "nan" = no pair drawn there). A fit whose parts
are swapped between two phases of the motion (the cat_walk failure mode) shows low values
within blocks and high values between the swapped blocks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from catlas import load_run
from catlas.evaluate import EvalSettings, evaluate, load_gt


def block_matrix(pairs: np.ndarray, values: np.ndarray, n_frames: int, block: int) -> np.ndarray:
    """(nb, nb) mean of ``values`` (M,) over pairs (M, 2) binned by frame // block; NaN if empty."""
    nb = (n_frames + block - 1) // block
    total, count = np.zeros((nb, nb)), np.zeros((nb, nb))
    np.add.at(total, (pairs[:, 0] // block, pairs[:, 1] // block), values)
    np.add.at(count, (pairs[:, 0] // block, pairs[:, 1] // block), 1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--snapshots", type=int, nargs="*", default=None,
                    help="snapshot iterations to score (default: the final weights)")
    args = ap.parse_args()
    for it in args.snapshots or [None]:
        run = load_run(args.run, snapshot=it) if it is not None else load_run(args.run)
        res = evaluate(run, load_gt(run), EvalSettings(pairs=args.pairs))
        d = res.per_pair["msL2_code"] * 1e3
        m = block_matrix(res.pairs, d, run.n_frames, args.block)
        label = f"iteration {it}" if it is not None else "final"
        print(f"{label}: msL2 {d.mean():.1f}  CD {res.per_pair['CD'].mean() * 1e3:.2f}")
        for row in m:
            print("   " + " ".join(f"{x:5.0f}" for x in row))


if __name__ == "__main__":
    main()
