"""Where a fit's correspondence error comes from: the protocol's floor, the reconstruction, drift.

    # the floor of the paper protocol on cat_walk (GT mesh as a perfect atlas) and the nearest map
    .venv/bin/python benchmarks/error_budget.py --points 3125 12500
    # and three fitted runs, split into their parts
    .venv/bin/python benchmarks/error_budget.py runs/cat_s0 runs/cat_s1 runs/cat_s2
    # how the drift from the middle frame evolved over a run's snapshots (train.snapshot_every)
    .venv/bin/python benchmarks/error_budget.py runs/cat_s0 --snapshots

All figures: msL2 (x1e3 normalised units, authors'-code convention: mean Euclidean distance),
mr and mAUC (%), with the protocol of `catlas eval` (--pairs seeded frame pairs, --points
predicted points per frame).

* gt-atlas: the GT mesh used as the atlas (catlas.evaluate.evaluate_gt_atlas). What the two
  snaps of the protocol (GT vertex -> nearest predicted point, predicted point -> nearest GT
  vertex) cost even with perfect correspondences: the floor of any run scored with that many
  points.
* nearest: each GT vertex -> nearest GT vertex of the other frame (the trivial map to beat).
* per run: its msL2; "self", the same protocol from each frame to itself (A -> A over every
  frame), which is what the reconstruction's error and the snaps cost without any change of
  frame; and msL2 binned by the frame offset |A - B| of the pairs, split into projection and
  drift (catlas.evaluate.split_pair_error): projection = the error if the predicted sample a GT
  vertex snaps to in frame A stood for the same material point in frame B; drift = how far that
  material point moved over the surface between A and B (the parameterisation sliding); and
  the drift of the pairs at least 9 frames apart per quartile of how much a GT vertex moves
  over the sequence (Q4 = the most: on cat_walk the paws and lower legs); and, in the same
  quartiles, how far the samples move between neighbouring frames against how far the material
  points they stand for move (fit below GT: the parameterisation lags behind the motion); and
  the drift from the middle frame to every frame in turn (where along the sequence it builds up),
  and from each frame to the next. With --snapshots, only "self" and the drift from the middle
  frame, for every snapshot of each run and its final weights (when during training it builds up).

The sequence (default ../shared/data/cat_walk, skipped with a message when absent) is used when
no run is given; with runs, the first run's own GT (stored with the run when it was fitted on
meshes with shared connectivity).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from catlas import load_run
from catlas.config import DataConfig
from catlas.data.sequence import load_sequence
from catlas.evaluate import (EvalSettings, evaluate, evaluate_gt_atlas, evaluate_nearest, load_gt,
                             split_pair_error)
from catlas.surface import SurfaceSamples, map_to_frame

CAT_WALK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cat_walk"
OFFSET_BINS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 10_000))
FAR = 9  # frame offset from which drift_by_motion averages


def _means(summary: dict) -> str:
    c = summary["conventions"]["code"]
    return f"msL2 {c['msL2']['mean']:6.2f}  mr {c['mr']['mean']:5.2f}  mAUC {c['mAUC']['mean']:6.2f}"


def self_msl2(sampler: SurfaceSamples, gt: np.ndarray) -> float:
    """msL2 (x1e3) of the protocol from every frame to itself: reconstruction + snapping only."""
    errors = []
    for a in range(len(gt)):
        y, _, _, _ = sampler.pair(a, a)
        k, _ = map_to_frame(gt[a], y, y, gt[a])
        errors.append(np.linalg.norm(gt[a][k] - gt[a], axis=1).mean())
    return 1e3 * float(np.mean(errors))


def gt_trees(gt: np.ndarray) -> list[cKDTree]:
    """One cKDTree per GT frame, built once per run and shared by the analyses below."""
    return [cKDTree(g) for g in gt]


def split_by_pair(sampler: SurfaceSamples, gt: np.ndarray, pairs: np.ndarray, far: int = FAR,
                  trees: list[cKDTree] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(M,) mean total / projection / drift distance of each pair (raw units), the protocol's
    pairs; and (V,) each GT vertex's mean drift over the pairs at least ``far`` frames apart."""
    trees = trees if trees is not None else gt_trees(gt)
    out = {k: np.empty(len(pairs)) for k in ("total", "projection", "drift")}
    drift_far, n_far = np.zeros(gt.shape[1]), 0
    for n, (a, b) in enumerate(pairs.tolist()):
        y_a, y_b, _, _ = sampler.pair(a, b)
        split = split_pair_error(gt[a], gt[b], y_a, y_b, trees[a], trees[b])
        for k in out:
            out[k][n] = getattr(split, k).mean()
        if abs(a - b) >= far:
            drift_far, n_far = drift_far + split.drift, n_far + 1
    return out, drift_far / max(n_far, 1)


def motion_quartiles(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V,) how much each GT vertex moves over the sequence (its mean distance from its mean
    position) and (V,) its quartile 0..3 of that."""
    motion = np.linalg.norm(gt - gt.mean(axis=0), axis=2).mean(axis=0)
    edges = np.quantile(motion, [0.0, 0.25, 0.5, 0.75, 1.0])
    return motion, np.clip(np.searchsorted(edges, motion, side="right") - 1, 0, 3)


def drift_by_motion(gt: np.ndarray, drift: np.ndarray) -> str:
    """Mean per-vertex drift (x1e3) in each quartile of how much a GT vertex moves over the
    sequence: where on the body the drift is."""
    motion, q = motion_quartiles(gt)
    return "  ".join(f"Q{i + 1} (moves {1e3 * motion[q == i].mean():.0f}): {1e3 * drift[q == i].mean():.1f}"
                     for i in range(4) if (q == i).any())


def step_motion(sampler: SurfaceSamples, gt: np.ndarray, trees: list[cKDTree] | None = None) -> str:
    """How far the protocol's samples move between neighbouring frames A, A + 1 against how far
    the material points they stand for move (x1e3, mean distances), per quartile of vertex motion
    (a sample counts in the quartile of its nearest GT vertex in A). fit < GT: the
    parameterisation lags behind the material (slides backwards over the surface)."""
    _, q = motion_quartiles(gt)
    trees = trees if trees is not None else gt_trees(gt)
    fit, true = np.zeros(4), np.zeros(4)
    n = np.zeros(4)
    for a in range(len(gt) - 1):
        y_a, y_b, _, _ = sampler.pair(a, a + 1)
        w = trees[a].query(y_a)[1]
        d_fit = np.linalg.norm(y_b - y_a, axis=1)
        d_true = np.linalg.norm(gt[a + 1][w] - gt[a][w], axis=1)
        for i in range(4):
            sel = q[w] == i
            if sel.any():
                fit[i] += d_fit[sel].mean()
                true[i] += d_true[sel].mean()
                n[i] += 1
    return "  ".join(f"Q{i + 1} {1e3 * fit[i] / n[i]:.1f}/{1e3 * true[i] / n[i]:.1f}"
                     for i in range(4) if n[i])


def drift_from_frame(sampler: SurfaceSamples, gt: np.ndarray, ref: int,
                     trees: list[cKDTree] | None = None) -> np.ndarray:
    """(K,) mean drift (raw units) of the map from frame ``ref`` to every frame: how far the
    parameterisation has slid over the surface between ``ref`` and frame k (0 at k = ref)."""
    pairs = np.array([(ref, k) for k in range(len(gt))])
    return split_by_pair(sampler, gt, pairs, trees=trees)[0]["drift"]


def drift_between_neighbours(sampler: SurfaceSamples, gt: np.ndarray,
                             trees: list[cKDTree] | None = None) -> np.ndarray:
    """(K - 1,) mean drift (raw units) of the map from frame k to frame k + 1."""
    pairs = np.array([(k, k + 1) for k in range(len(gt) - 1)])
    return split_by_pair(sampler, gt, pairs, trees=trees)[0]["drift"]


def snapshot_drift(path: Path, n_points: int) -> list[str]:
    """One line per snapshot of the run at ``path`` and its final weights: "self" msL2 and the
    drift from the middle frame to every frame (x1e3)."""
    from catlas.train.checkpoint import list_snapshots

    lines = []
    settings = EvalSettings(n_points=n_points)
    for it in [*list_snapshots(path), None]:
        run = load_run(path, snapshot=it)
        gt = np.asarray(load_gt(run), np.float64)
        sampler = SurfaceSamples(run, settings.n_points, settings.uv_seed, settings.max_ratio)
        sampler.prepare(list(range(run.n_frames)))
        drift = drift_from_frame(sampler, gt, run.n_frames // 2)
        label = f"step {it}" if it is not None else "final"
        lines.append(f"  {label:>10}: self {self_msl2(sampler, gt):6.1f}  drift from frame "
                     f"{run.n_frames // 2}: " + " ".join(f"{1e3 * v:.0f}" for v in drift))
    return lines


def by_offset(pairs: np.ndarray, values: dict[str, np.ndarray]) -> list[str]:
    """Table lines: mean of each (M,) array in ``values`` (x1e3) per bin of |A - B|."""
    off = np.abs(pairs[:, 0] - pairs[:, 1])
    bins = [(lo, hi, (off >= lo) & (off <= hi)) for lo, hi in OFFSET_BINS]
    labels = [f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10_000 else f">={lo}") for lo, hi, _ in bins]
    lines = ["  |A - B|      " + "".join(f"{label:>7}" for label in labels)]
    for name, v in values.items():
        cells = [f"{1e3 * v[sel].mean():7.1f}" if sel.any() else f"{'-':>7}" for _, _, sel in bins]
        lines.append(f"  {name:<13}" + "".join(cells))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="*", help="fitted run folders")
    ap.add_argument("--sequence", type=Path, default=CAT_WALK,
                    help="mesh sequence with shared connectivity, used when no run is given")
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--points", type=int, nargs="+", default=[3125],
                    help="predicted points per frame for the gt-atlas floor (the runs use the first)")
    ap.add_argument("--snapshots", action="store_true",
                    help="per run: self msL2 and the drift from the middle frame at every snapshot")
    args = ap.parse_args()

    if args.snapshots:
        if not args.runs:
            ap.error("--snapshots needs at least one run folder")
        for path in args.runs:
            print(f"{path}:")
            print("\n".join(snapshot_drift(path, args.points[0])))
        return 0

    runs = [load_run(path) for path in args.runs]
    if runs:
        gt, faces = load_gt(runs[0]), runs[0].sequence.faces
        source = f"GT of {args.runs[0]}"
    else:
        if not args.sequence.exists():
            print(f"skipped: {args.sequence} not found (cat_walk lives in ../shared/data)")
            return 0
        seq = load_sequence(args.sequence, DataConfig(points_per_frame=100), np.random.default_rng(0))
        gt, faces, source = seq.vertices, seq.faces, str(args.sequence)
    if faces is None:
        print(f"{source}: no shared mesh connectivity, so no GT atlas; give a mesh sequence",
              file=sys.stderr)
        return 1
    gt = np.asarray(gt, np.float64)
    print(f"{source}: {gt.shape[0]} frames, {gt.shape[1]} GT vertices, {args.pairs} pairs")
    for n in args.points:
        res = evaluate_gt_atlas(gt, faces, EvalSettings(pairs=args.pairs, n_points=n))
        print(f"  gt-atlas, {n:6d} points   {_means(res.summary)}")
    print(f"  nearest                   {_means(evaluate_nearest(gt, EvalSettings(pairs=args.pairs)).summary)}")
    settings = EvalSettings(pairs=args.pairs, n_points=args.points[0])
    for path, run in zip(args.runs, runs):
        run_gt = load_gt(run)
        res = evaluate(run, run_gt, settings)
        # the protocol's samples of every frame, decoded once for "self" and the split
        sampler = SurfaceSamples(run, settings.n_points, settings.uv_seed, settings.max_ratio)
        sampler.prepare(list(range(run.n_frames)))
        print(f"{path}: {_means(res.summary)}  self (A -> A) msL2 {self_msl2(sampler, run_gt):.2f}")
        trees = gt_trees(run_gt)
        split, drift_far = split_by_pair(sampler, run_gt, res.pairs, trees=trees)
        if not np.allclose(split["total"], res.per_pair["msL2_code"]):
            raise RuntimeError(f"{path}: the error split disagrees with catlas.evaluate (a bug)")
        print("\n".join(by_offset(res.pairs, {"msL2": split["total"], "projection": split["projection"],
                                                "drift": split["drift"]})))
        print(f"  drift (|A - B| >= {FAR}) by how much a vertex moves, quartiles: "
              f"{drift_by_motion(run_gt, drift_far)}")
        print(f"  motion between neighbouring frames, fit/GT, same quartiles: {step_motion(sampler, run_gt, trees)}")
        mid = run.n_frames // 2
        per_frame = drift_from_frame(sampler, run_gt, mid, trees)
        print(f"  drift from the middle frame {mid} to frame 0 .. {run.n_frames - 1}: "
              + " ".join(f"{1e3 * v:.0f}" for v in per_frame))
        step = drift_between_neighbours(sampler, run_gt, trees)
        print(f"  drift from frame k to k + 1, k = 0 .. {run.n_frames - 2}: "
              + " ".join(f"{1e3 * v:.1f}" for v in step))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
