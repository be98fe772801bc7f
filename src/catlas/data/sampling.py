"""Area-weighted uniform surface sampling of triangle meshes, with provenance.

Provenance = (face index, barycentric coordinates) per sample; re-placing the same provenance on
another frame with the same connectivity gives ground-truth correspondences between frames.
"""

from __future__ import annotations

import numpy as np

from catlas.errors import CatlasError
from catlas.geometry.triangles import face_normals


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Areas (F,) float64 of the triangles ``faces`` (F,3) over ``vertices`` (V,3), in units^2."""
    return face_normals(vertices, faces)[1]


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` points uniformly over the surface (faces by area, barycentrics by the sqrt trick).

    vertices (V,3), faces (F,3) int. Returns points (n,3) float32 in the vertices' units,
    face_idx (n,) int64 and bary (n,3) float32; ``points_from_provenance`` on the same inputs
    reproduces ``points`` exactly.
    """
    faces = np.asarray(faces, dtype=np.int64)
    areas = triangle_areas(vertices, faces)
    total = float(areas.sum())
    if not np.isfinite(total):
        raise CatlasError(f"mesh surface area is not finite ({total:g}: NaN/inf or overflowing "
                          "coordinates); cannot sample points on it")
    if total <= 0.0:
        raise CatlasError("mesh has zero surface area; cannot sample points on it")
    face_idx = rng.choice(len(faces), size=n, replace=True, p=areas / total).astype(np.int64)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    bary = np.stack([1.0 - r1, r1 * (1.0 - r2), r1 * r2], axis=1).astype(np.float32)
    points = points_from_provenance(vertices, faces, face_idx, bary)
    return points.astype(np.float32), face_idx, bary


def points_from_provenance(
    vertices: np.ndarray, faces: np.ndarray, face_idx: np.ndarray, bary: np.ndarray
) -> np.ndarray:
    """Place samples given by (face_idx, bary) on ``vertices``.

    vertices (V,3) or (K,V,3); faces (F,3); face_idx (n,) [shared by all frames] or (K,n)
    [one per frame]; bary (n,3) or (K,n,3). Returns (n,3) or (K,n,3) float64.
    """
    v = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    face_idx = np.asarray(face_idx, dtype=np.int64)
    w = np.asarray(bary, dtype=np.float64)
    tri = faces[face_idx]  # (n,3) or (K,n,3)
    if v.ndim == 2:
        corners = v[tri]  # (..., n, 3, 3)
    elif tri.ndim == 2:
        corners = v[:, tri]  # (K, n, 3, 3)
    else:
        corners = v[np.arange(len(v))[:, None, None], tri]  # (K, n, 3, 3)
    return np.einsum("...j,...jd->...d", w, corners)
