"""The protocol's floor: the GT mesh itself used as a perfect atlas, scored like a fitted run.

A fitted atlas is scored through n predicted points per frame (3125 in the paper's protocol):
A -> B sends each GT vertex of A to its nearest predicted point of A, takes that point's (patch,
uv) to frame B and snaps it to the nearest GT vertex of B. Even a perfect atlas loses accuracy
in the two snaps, because n points are only so dense. The GT atlas measures that loss: n points
drawn once, area-weighted, on the GT mesh (face + barycentrics, the role of (patch, uv)), placed
on every frame by the same barycentrics, then the same two snaps. No learned correspondence
scored with n points can be expected to beat it; the gap between a run and this floor is what
the method itself loses (reconstruction error and drift of the parameterisation over time).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from catlas.data.sampling import points_from_provenance, sample_surface
from catlas.errors import CatlasError
from catlas.evaluate.protocol import EvalResult, EvalSettings, check_settings, evaluate_vertex_map

__all__ = ["GT_ATLAS", "gt_atlas_points", "evaluate_gt_atlas"]

GT_ATLAS = "gt-atlas"
"""The reference's name in summaries and benchmark rows."""


def gt_atlas_points(gt: np.ndarray, faces: np.ndarray, n_points: int, seed: int = 0) -> np.ndarray:
    """``(K, n, 3)`` float64: n surface points with fixed provenance, placed on every frame.

    gt: (K, V, 3) GT vertices (shared connectivity); faces: (F, 3). The faces and barycentrics are
    drawn once, area-weighted on frame 0 (seeded), like a fixed UV set of an atlas.
    """
    gt = np.asarray(gt, np.float64)
    faces = np.asarray(faces, np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise CatlasError(f"faces must have shape (F, 3) with F >= 1, got {tuple(faces.shape)}")
    if faces.min() < 0 or faces.max() >= gt.shape[1]:
        raise CatlasError(f"faces index vertices outside 0..{gt.shape[1] - 1}")
    if n_points < 1:
        raise CatlasError(f"--points must be at least 1, got {n_points}")
    _, face_idx, bary = sample_surface(gt[0], faces, n_points, np.random.default_rng(seed))
    return points_from_provenance(gt, faces, face_idx, bary)


def evaluate_gt_atlas(gt: np.ndarray, faces: np.ndarray, settings: EvalSettings | None = None,
                      progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score the GT atlas (module docstring) on GT vertices ``gt`` (K, V, 3) with the protocol.

    faces: (F, 3) shared by all frames; settings: ``pairs``, ``seed``, the PCK settings and
    ``n_points`` (points per frame; ``uv_seed`` seeds their draw). Returns an
    :class:`EvalResult` shaped like :func:`catlas.evaluate.evaluate_nearest`'s (CD NaN).
    """
    s = settings or EvalSettings()
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 3 or gt.shape[2] != 3 or gt.shape[1] < 1:
        raise CatlasError(f"GT must have shape (frames, V, 3), got {tuple(gt.shape)}")
    check_settings(s)
    y = gt_atlas_points(gt, faces, s.n_points, s.uv_seed)
    proj: dict[int, np.ndarray] = {}  # frame -> (V,) nearest GT-atlas point of each GT vertex

    def pair_map(a: int, b: int, tree_b: cKDTree) -> np.ndarray:
        if a not in proj:
            proj[a] = cKDTree(y[a]).query(gt[a])[1]
        return np.asarray(tree_b.query(y[b][proj[a]])[1], np.int64)

    return evaluate_vertex_map(
        gt, pair_map, s, GT_ATLAS,
        f"GT mesh as the atlas: {s.n_points} area-weighted points with fixed barycentrics; GT "
        "vertex of A -> nearest point of A -> same point on B -> nearest GT vertex of B", progress)
