"""Per-face and per-edge quantities of a triangle mesh (numpy): face normals and areas, edges."""

from __future__ import annotations

import numpy as np

__all__ = ["face_normals", "mesh_edges"]


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals ``(..., F, 3)`` and areas ``(..., F)`` (units^2), float64, of ``faces (F, 3)``
    over ``vertices (..., V, 3)`` (one frame or a stack of frames). A normal follows the face's
    winding (right hand: (b - a) x (c - a)); zero-area faces get a zero normal."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    a, b, c = v[..., f[:, 0], :], v[..., f[:, 1], :], v[..., f[:, 2], :]
    n = np.cross(b - a, c - a)
    length = np.linalg.norm(n, axis=-1)
    return n / np.maximum(length, 1e-300)[..., None], 0.5 * length


def mesh_edges(faces: np.ndarray, counts: bool = False):
    """``(E, 2)`` int64 unique undirected edges of ``faces (F, 3)`` (each row sorted); with
    ``counts``, also ``(E,)`` how many faces hold each edge."""
    f = np.asarray(faces, np.int64)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0, return_counts=counts)
