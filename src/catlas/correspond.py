"""Correspondences between frames through the atlas (docs/evaluation.md, 4).

f_{i->j} = (nearest point of cloud j) o atlas_j o atlas_i^{-1} o (nearest surface sample of i),
:func:`catlas.surface.map_to_frame` with frame j's stored cloud as the target. Samples follow
the evaluation protocol (:class:`catlas.surface.SurfaceSamples`: collapsed patches of the pair
removed, floor(n / P') even UV points per kept patch), so this map is the one ``catlas eval``
scores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catlas.config import MAX_SEED
from catlas.data.io import read_frame
from catlas.errors import CatlasError, check_int
from catlas.fileio import atomic_path
from catlas.surface import MAX_POINTS, SurfaceSamples, map_to_frame

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["Correspondence", "correspond", "read_query_points",
           "write_correspondence"]


@dataclass
class Correspondence:
    """Result of :func:`correspond` for n query points of frame i mapped into frame j."""

    source: np.ndarray
    """(n,3) query points, input units."""
    indices: np.ndarray
    """(n,) int64 indices into frame j's stored cloud (``run.sequence.points[j]``)."""
    points: np.ndarray
    """(n,3) the matched points of frame j's cloud, input units."""
    surface: np.ndarray
    """(n,3) atlas_j at the matched (patch, uv) before snapping to the cloud, input units."""
    patch: np.ndarray
    """(n,) int64 patch of each query's nearest surface sample of frame i."""
    uv: np.ndarray
    """(n,2) its uv in [0,1]^2."""


def correspond(run: "Run", i: int, j: int, points: np.ndarray | None = None,
               n_samples: int = 3125, seed: int = 0) -> Correspondence:
    """Map ``points`` (n,3, input units; default frame i's stored cloud) from frame i to frame j.

    n_samples: surface samples per frame (3125 = the evaluation protocol; at least one per patch,
    at most :data:`~catlas.surface.MAX_POINTS`); seed: of the even UVs.
    """
    check_int("--samples", n_samples, run.n_patches, MAX_POINTS,
              f" (at least one per patch: the run has {run.n_patches} patches)")
    check_int("seed", seed, 0, MAX_SEED)
    i, j = run._check_frame(i), run._check_frame(j)
    seq = run.sequence
    if points is None:
        query = seq.points[i].astype(np.float64)
    else:
        points = np.asarray(points, np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise CatlasError(f"query points must have shape (n, 3), got {tuple(points.shape)}")
        if not np.isfinite(points).all():
            raise CatlasError("query points contain NaN or inf")
        query = seq.to_normalized(points, frames=i)
    sampler = SurfaceSamples(run, n_samples, seed)
    y_i, y_j, kept, m = sampler.pair(i, j)
    target = seq.points[j].astype(np.float64)
    t_idx, s_idx = map_to_frame(query, y_i, y_j, target)
    patch, uv = sampler.layout(kept, m)
    return Correspondence(source=seq.to_input_units(query, frames=i), indices=t_idx,
                          points=seq.to_input_units(target[t_idx], frames=j),
                          surface=seq.to_input_units(y_j[s_idx], frames=j),
                          patch=patch[s_idx].astype(np.int64), uv=uv[s_idx].astype(np.float64))


def read_query_points(path: str | Path) -> np.ndarray:
    """Query points (n,3) from any single-frame file catlas reads (.xyz .txt .npy .ply .obj .off)."""
    return read_frame(path).points


def write_correspondence(path: str | Path, c: Correspondence) -> Path:
    """Write ``c`` as .npz (arrays by field name) or .csv (one row per query point), by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise CatlasError(f"{path.name}: output must end in .npz or .csv")
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, source=c.source, indices=c.indices, points=c.points,
                         surface=c.surface, patch=c.patch, uv=c.uv)
        else:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["src_x", "src_y", "src_z", "target_index", "x", "y", "z",
                            "patch", "u", "v"])
                for k in range(len(c.indices)):
                    w.writerow([*(f"{x:.9g}" for x in c.source[k]), int(c.indices[k]),
                                *(f"{x:.9g}" for x in c.points[k]), int(c.patch[k]),
                                *(f"{x:.9g}" for x in c.uv[k])])
    return path
