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

from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from catlas.evaluate.protocol import EvalResult, EvalSettings, evaluate_vertex_map

__all__ = ["NEAREST", "nearest_vertex_map", "evaluate_nearest"]

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
