"""Split a pair's correspondence error into projection and drift (an analysis of the protocol).

The protocol maps GT vertex v of frame A to the predicted sample s nearest to it, then takes the
same (patch, uv) sample in frame B and snaps it to the nearest GT vertex k of frame B
(:func:`catlas.surface.map_to_frame`). Let w be
the GT vertex of frame A nearest to sample s: the material point s stands for in frame A. Then

* projection = |v_B - w_B|: the error the map would have if s stood for w in frame B too, i.e.
  what the reconstruction of frame A and the snaps cost, carried to frame B;
* drift = |w_B - k_B|: how far, on frame B's GT surface, the sample's material point has moved
  between the two frames: the parameterisation sliding over the surface.

The total |v_B - k_B| (the protocol's per-vertex error) is at most projection + drift.
All in the units of the GT given (the run's normalised units when called on ``load_gt``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from catlas.surface import map_to_frame


@dataclass
class ErrorSplit:
    """Per-GT-vertex distances ``(V,)`` of one pair, in GT units."""

    total: np.ndarray
    projection: np.ndarray
    drift: np.ndarray


def split_pair_error(gt_a: np.ndarray, gt_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
                     tree_a: cKDTree | None = None, tree_b: cKDTree | None = None) -> ErrorSplit:
    """Split the protocol's error of one pair A -> B.

    gt_a, gt_b: ``(V, 3)`` GT vertices (same index = same material point);
    y_a, y_b: ``(M, 3)`` predicted samples of the two frames in the same (patch, uv) order;
    tree_a, tree_b: optional cKDTrees of gt_a, gt_b (reused across pairs).
    """
    # k (V,): the protocol's answer in B; s (V,): the sample each GT vertex of A snaps to
    k, s = map_to_frame(gt_a, y_a, y_b, gt_b if tree_b is None else tree_b)
    # w (V,): the GT vertex that sample stands for in A (the same map, from A to A)
    w, _ = map_to_frame(gt_a, y_a, y_a, gt_a if tree_a is None else tree_a, sample=s)
    return ErrorSplit(total=np.linalg.norm(gt_b[k] - gt_b, axis=1),
                      projection=np.linalg.norm(gt_b[w] - gt_b, axis=1),
                      drift=np.linalg.norm(gt_b[k] - gt_b[w], axis=1))
