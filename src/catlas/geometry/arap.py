"""As-rigid-as-possible (ARAP) deformation of a mesh towards soft targets and a point cloud.

Sorkine and Alexa, "As-Rigid-As-Possible Surface Modeling" (SGP 2007), with soft constraints
instead of fixed handles: every vertex is pulled towards a target position with its own weight,
and optionally onto a point cloud's surface (point-to-plane). libigl's ARAP takes hard handles
only and is not a dependency, so the few lines are here.

Energy of one frame, over vertex positions ``x (V, 3)``:

    sum over edges (i, j) of |(x_i - x_j) - (R_i + R_j) / 2 (p_i - p_j)|^2     (uniform weights)
  + sum over v of  w_v |x_v - a_v|^2                                             (targets)
  + cloud_weight * sum over v of |x_v - q_v|^2                                   (cloud)

``p`` is the rest mesh, ``R_v`` the rotation that best maps the rest edges around v onto the
current ones, ``a`` the targets, ``q_v`` the projection of ``x_v`` onto the tangent plane of the
cloud at its nearest cloud point. Alternating: rotations from the current positions (local step),
then one sparse linear solve for the positions (global step; one factorisation per mesh and
weights, reused by every frame and iteration).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import factorized
from scipy.spatial import cKDTree

from catlas.geometry.triangles import mesh_edges

__all__ = ["best_rotations", "vertex_rotations", "cloud_normals", "arap_deform", "ARAP_STEPS",
           "CLOUD_NEIGHBOURS"]

ARAP_STEPS = 8
"""Local/global iterations per frame."""
CLOUD_NEIGHBOURS = 12
"""Cloud points whose principal axes give a cloud point's normal (:func:`cloud_normals`)."""


def best_rotations(cov: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` rotations R minimising sum |R p - x|^2 for covariances ``cov (N, 3, 3)`` =
    sum of p x^T (Kabsch: the polar factor, reflections turned into rotations)."""
    U, _, Vt = np.linalg.svd(cov)
    R = Vt.transpose(0, 2, 1) @ U.transpose(0, 2, 1)
    flip = np.linalg.det(R) < 0
    if np.any(flip):
        Vt = Vt.copy()
        Vt[flip, 2] *= -1
        R[flip] = Vt[flip].transpose(0, 2, 1) @ U[flip].transpose(0, 2, 1)
    return R


def vertex_rotations(rest: np.ndarray, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``(V, 3, 3)`` rotation of each vertex's edges from ``rest (V, 3)`` to ``x (V, 3)``;
    ``edges (E, 2)`` undirected. A vertex without edges gets the identity."""
    dp = rest[edges[:, 1]] - rest[edges[:, 0]]
    dx = x[edges[:, 1]] - x[edges[:, 0]]
    outer = dp[:, :, None] * dx[:, None, :]
    cov = np.zeros((len(rest), 3, 3))
    np.add.at(cov, edges[:, 0], outer)
    np.add.at(cov, edges[:, 1], outer)
    lone = np.bincount(edges.reshape(-1), minlength=len(rest)) == 0
    cov[lone] = np.eye(3)
    return best_rotations(cov)


def cloud_normals(cloud: np.ndarray, tree: cKDTree | None = None,
                  neighbours: int = CLOUD_NEIGHBOURS) -> np.ndarray:
    """``(N, 3)`` unit normals (unoriented) of a cloud ``(N, 3)``: the least principal axis of
    each point's ``neighbours`` nearest points."""
    tree = cKDTree(cloud) if tree is None else tree
    _, nb = tree.query(cloud, min(neighbours, len(cloud)))
    local = cloud[nb] - cloud[nb].mean(axis=1, keepdims=True)
    return np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))[1][:, :, 0]


def arap_deform(rest: np.ndarray, faces: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                clouds: np.ndarray | list | None = None, cloud_weight: float = 0.0,
                steps: int = ARAP_STEPS, frames: Callable[[range], Iterable[int]] = iter) -> np.ndarray:
    """``(K, V, 3)``: the mesh ``rest (V, 3)``, ``faces (F, 3)`` deformed in each of K frames
    (energy in the module docstring), starting from ``targets (K, V, 3)``.

    weights ``(V,)`` >= 0: each vertex's pull towards its target (the edges' weight is 1).
    clouds: K clouds ``(N_k, 3)`` in the same units, used when ``cloud_weight`` > 0.
    frames: wraps the frame loop (e.g. a progress bar)."""
    rest = np.asarray(rest, np.float64)
    targets = np.asarray(targets, np.float64)
    V = len(rest)
    e = mesh_edges(faces)
    adj = sparse.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                            shape=(V, V)).tocsr()
    laplacian = sparse.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj
    weights = np.asarray(weights, np.float64)
    solve = factorized((laplacian + sparse.diags(np.maximum(weights + cloud_weight, 1e-9))).tocsc())
    rest_edge = rest[e[:, 0]] - rest[e[:, 1]]
    out = np.empty_like(targets)
    for k in frames(range(len(targets))):
        x = targets[k].copy()
        if cloud_weight > 0:
            cloud = np.asarray(clouds[k], np.float64)
            tree = cKDTree(cloud)
            normals = cloud_normals(cloud, tree)
        for _ in range(steps):
            R = vertex_rotations(rest, x, e)
            edge = 0.5 * np.einsum("eij,ej->ei", R[e[:, 0]] + R[e[:, 1]], rest_edge)
            b = weights[:, None] * targets[k]
            np.add.at(b, e[:, 0], edge)
            np.add.at(b, e[:, 1], -edge)
            if cloud_weight > 0:
                _, nearest = tree.query(x)
                n = normals[nearest]
                q = x + n * np.einsum("vi,vi->v", n, cloud[nearest] - x)[:, None]
                b += cloud_weight * q
            x = np.stack([solve(b[:, c]) for c in range(3)], axis=1)
        out[k] = x
    return out
