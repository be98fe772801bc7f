"""The nearest-vertex baseline: the trivial correspondence map scored with the paper protocol.

Map A -> B: each GT vertex of frame A -> the nearest GT vertex of frame B in 3D (no model, no
fit). It is scored exactly like :func:`catlas.evaluate.evaluate` scores a run: the same seeded
frame pairs (:func:`sample_frame_pairs` with ``settings.seed`` and ``settings.pairs``), the same
per-pair metrics (:func:`catlas.evaluate.protocol.score_pair`: msL2 and mAUC in both conventions,
mr, PCK curves) and a summary of the same shape, so reports and ``catlas compare`` print it like
a run. CD is not defined (there is no reconstruction): NaN, printed as '-'.

It is exact where nothing moves and fails where parts move by more than the vertex spacing,
so it is the floor a learned correspondence has to beat.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from catlas.errors import CatlasError
from catlas.evaluate import metrics as mt
from catlas.evaluate.protocol import (SUMMARY_UNITS, EvalResult, EvalSettings, convention_summary,
                                      sample_frame_pairs, score_pair)

__all__ = ["NEAREST", "nearest_vertex_map", "evaluate_nearest", "evaluate_vertex_map"]

NEAREST = "nearest"
"""The baseline's name (``catlas compare --baseline nearest``, benchmark rows)."""


def nearest_vertex_map(gt_a: np.ndarray, gt_b: np.ndarray | cKDTree) -> np.ndarray:
    """``(V_a,)`` int64: index of the GT vertex of B nearest (3D Euclidean) to each vertex of A.

    gt_a: (V_a, 3); gt_b: (V_b, 3) or a prebuilt cKDTree of it; same units.
    """
    tree = gt_b if isinstance(gt_b, cKDTree) else cKDTree(np.asarray(gt_b, np.float64))
    return np.asarray(tree.query(np.asarray(gt_a, np.float64))[1], np.int64)


def evaluate_nearest(gt: np.ndarray, settings: EvalSettings | None = None,
                     progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score the nearest-vertex map on GT vertices ``gt`` (K_frames, V, 3) with the protocol.

    gt: the GT mesh vertices of every frame, same vertex = same index, in normalised units
    (:func:`catlas.evaluate.load_gt` of a run; the PCK thresholds assume the paper's
    normalisation, longest bounding-box side of frame 0 = 1). settings: only ``pairs``,
    ``seed`` and the PCK settings matter (``n_points``, ``max_ratio`` and ``uv_seed`` describe
    a reconstruction). Returns an :class:`EvalResult` like :func:`evaluate`'s: per-pair
    columns in raw units (distances in normalised units, fractions), ``CD`` NaN, ``kept`` and
    ``m`` 0; ``summary`` in printed units (msL2 x1e3, mr %, mAUC %) with ``"method":
    "nearest"`` and None for the run-only entries.
    """
    return evaluate_vertex_map(
        gt, lambda a, b, tree_b: nearest_vertex_map(gt[a], tree_b), settings, NEAREST,
        "GT vertices only: each GT vertex of A -> nearest GT vertex of B (3D)", progress)


def evaluate_vertex_map(gt: np.ndarray, pair_map: Callable[[int, int, cKDTree], np.ndarray],
                        settings: EvalSettings | None, method: str, inputs: str,
                        progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score a map between GT vertices with the protocol (no reconstruction: CD is NaN).

    gt: (K_frames, V, 3) normalised GT vertices; pair_map(a, b, tree_b) -> (V,) int, the vertex
    of frame b predicted for each vertex of frame a (tree_b: a cKDTree of gt[b]); method and
    inputs: the summary's ``method`` and ``inputs`` entries. See :func:`evaluate_nearest`.
    """
    s = settings or EvalSettings()
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 3 or gt.shape[2] != 3 or gt.shape[1] < 1:
        raise CatlasError(f"GT must have shape (frames, V, 3), got {tuple(gt.shape)}")
    if s.pairs < 1:
        raise CatlasError(f"--pairs must be at least 1, got {s.pairs}")
    t0 = time.perf_counter()
    K, V = gt.shape[:2]
    pairs = sample_frame_pairs(K, s.pairs, np.random.default_rng(s.seed))
    thr = mt.pck_thresholds(s.pck_steps, s.pck_min, s.pck_max)
    M = len(pairs)
    cols = {k: np.empty(M) for k in ("msL2_code", "msL2_paper", "mr", "mAUC_code", "mAUC_paper")}
    cols["CD"] = np.full(M, np.nan)
    cols["kept"] = np.zeros(M, np.int64)
    cols["m"] = np.zeros(M, np.int64)
    d_all, r_all = np.empty((M, V)), np.empty((M, V))
    curves = {c: np.empty((M, len(thr))) for c in mt.CONVENTIONS}
    order = np.argsort(pairs[:, 1], kind="stable")  # group by B: one K x K matrix per frame B
    sq_b, tree_b, frame_b = None, None, -1
    for done, n in enumerate(order, 1):
        a, b = int(pairs[n, 0]), int(pairs[n, 1])
        if b != frame_b:
            sq_b, tree_b, frame_b = mt.pairwise_sqdist(gt[b]), cKDTree(gt[b]), b
        d_all[n], r_all[n], values, pair_curves = score_pair(sq_b, pair_map(a, b, tree_b), thr)
        for k, v in values.items():
            cols[k][n] = v
        for c in mt.CONVENTIONS:
            curves[c][n] = pair_curves[c]
        if progress is not None:
            progress(done, M)
    result = EvalResult(s, pairs, cols, thr, {c: v.mean(axis=0) for c, v in curves.items()})
    result.summary = {
        "method": method,
        "conventions": convention_summary(cols, d_all, r_all),
        "default_convention": "code",
        "units": {**SUMMARY_UNITS, "CD": f"not defined for the {method} map (null in metrics.json)"},
        "normalisation": None,
        "settings": asdict(s),
        "frames": K,
        "gt_vertices": V,
        "patches": None,
        "mean_kept_patches": None,
        "predicted_points_per_shape": None,
        "inputs": inputs,
        "run_iteration": None,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return result
