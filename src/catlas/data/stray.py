"""Does a sequence hold stray points (outliers)? (The hint ``catlas fit`` prints for them.)

A point is stray when the distance to its :data:`STRAY_NEIGHBOURS`-th nearest neighbour is more
than :data:`STRAY_RATIO` times the median of the same distance over those neighbours. The ratio is
local, so a surface sampled more sparsely in one place (a scan's far side) is not flagged, while a
point floating away from the surface is: its neighbours lie on the surface and have close
neighbours of their own.

Measured on the stored clouds (4,000 points per frame): the clean creature, sheet, humanoid and
cat_walk, their ``catlas degrade`` copies with noise 0.5 % and with 30 % holes have at most 0.01 %
of their points stray (mean over frames); copies with 2 % outliers uniform in the bounding box
0.64-0.86 % (outliers that land on or next to the surface are not stray, and do little harm).
The hint fires above :data:`STRAY_LIMIT`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

STRAY_NEIGHBOURS = 8
"""The neighbour whose distance measures how isolated a point is."""
STRAY_RATIO = 3.0
"""How many times its neighbours' distance a stray point's distance exceeds."""
STRAY_LIMIT = 0.002
"""Fraction of all the sequence's points that may be stray before the hint."""


def stray_fraction(points) -> np.ndarray:
    """Fraction of stray points per frame, (K,), among the distinct points of ``points`` (K, N, 3)
    or a list of (N_k, 3) arrays (any units: the test is a ratio of distances). Frames with no
    more than :data:`STRAY_NEIGHBOURS` distinct points count as 0."""
    out = []
    for p in points:
        # a cloud resampled with replacement repeats points: the copies would be each other's neighbours
        p = np.unique(np.asarray(p, np.float64), axis=0)
        if len(p) <= STRAY_NEIGHBOURS:
            out.append(0.0)
            continue
        d, idx = cKDTree(p).query(p, k=STRAY_NEIGHBOURS + 1)  # column 0: the point itself
        reach = d[:, -1]
        around = np.median(reach[idx[:, 1:]], axis=1)
        out.append(float(np.mean(reach > STRAY_RATIO * np.maximum(around, 1e-300))))
    return np.asarray(out)


def stray_warning(points, where: str = "the input", input_trim: float = 0.0) -> str | None:
    """One line when more than :data:`STRAY_LIMIT` of the points of ``points`` (as for
    :func:`stray_fraction`) are stray and ``loss.input_trim`` is off, naming the setting; None
    otherwise."""
    frac = stray_fraction(points)
    sizes = np.array([len(p) for p in points], np.float64)
    total = float((frac * sizes).sum() / max(sizes.sum(), 1.0))
    if total <= STRAY_LIMIT or input_trim > 0:
        return None
    k = int(np.argmax(frac))
    return (f"{where} looks like it holds stray points: {100 * total:.1f} % of its points lie far "
            f"from every other (frame {k}: {100 * frac[k]:.1f} %); the Chamfer term pulls the surface "
            f"towards them; consider loss.input_trim=0.05 (each frame's 5 % of points farthest from "
            f"the surface left out of the input -> surface term)")
