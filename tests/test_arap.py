"""As-rigid-as-possible deformation (catlas.geometry.arap): known rotations, rigid motions kept
exactly, folds undone, point-to-plane pull onto a cloud."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from catlas.evaluate import mesh_quality as mq
from catlas.geometry.arap import arap_deform, best_rotations, cloud_normals, vertex_rotations
from catlas.geometry.uv import grid_faces, grid_uv


def _grid(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A flat n x n grid over [0, 1]^2 in z = 0, with a gentle bump so it is not degenerate."""
    uv = grid_uv(n).double().numpy()
    z = 0.1 * np.sin(np.pi * uv[:, 0]) * np.sin(np.pi * uv[:, 1])
    return np.concatenate([uv, z[:, None]], axis=1), grid_faces(n).numpy()


def test_best_rotations_recovers_a_rotation_and_never_a_reflection():
    rng = np.random.default_rng(0)
    R = Rotation.random(5, random_state=1).as_matrix()
    p = rng.normal(size=(5, 10, 3))
    x = np.einsum("nij,nkj->nki", R, p)
    cov = np.einsum("nki,nkj->nij", p, x)
    np.testing.assert_allclose(best_rotations(cov), R, atol=1e-10)
    mirrored = np.einsum("nki,nkj->nij", p, x * [1, 1, -1])  # x reflected: best proper rotation
    assert np.allclose(np.linalg.det(best_rotations(mirrored)), 1.0)


def test_vertex_rotations_of_a_rotated_mesh():
    v, f = _grid(5)
    R = Rotation.from_euler("xyz", [0.3, -0.5, 1.1]).as_matrix()
    from catlas.geometry.triangles import mesh_edges

    out = vertex_rotations(v, v @ R.T + [1.0, 2.0, 3.0], mesh_edges(f))
    np.testing.assert_allclose(out, np.broadcast_to(R, out.shape), atol=1e-10)


def test_rigidly_moved_targets_are_kept_exactly():
    v, f = _grid()
    R = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    targets = np.stack([v, v @ R.T + [0.2, -0.1, 0.5]])
    out = arap_deform(v, f, targets, np.full(len(v), 0.7))
    np.testing.assert_allclose(out, targets, atol=1e-9)


def test_one_anchored_vertex_carries_the_whole_mesh_rigidly():
    v, f = _grid()
    w = np.zeros(len(v))
    w[0] = 1.0
    out = arap_deform(v, f, (v + [0.0, 0.0, 2.0])[None], w)
    np.testing.assert_allclose(out[0], v + [0.0, 0.0, 2.0], atol=1e-6)


def test_jittered_targets_come_back_with_fewer_folds_and_less_stretch():
    v, f = _grid(12)
    rng = np.random.default_rng(0)
    jitter = v + rng.normal(scale=0.03, size=v.shape)  # a vertex spacing of 1/11 = 0.09
    out = arap_deform(v, f, jitter[None], np.full(len(v), 0.5))[0]
    folded_before = mq.flipped_faces(jitter[None], v, f)[0]
    assert folded_before > 0.05
    assert mq.flipped_faces(out[None], v, f)[0] < 0.2 * folded_before
    assert mq.edge_distortion(out[None], v, f)[0] < 0.5 * mq.edge_distortion(jitter[None], v, f)[0]


def test_cloud_pulls_along_its_normal_only():
    n = 10
    uv = grid_uv(n).double().numpy()
    v = np.concatenate([uv, np.zeros((len(uv), 1))], axis=1)
    f = grid_faces(n).numpy()
    g = np.random.default_rng(1).uniform(-0.2, 1.2, size=(4000, 2))
    cloud = np.concatenate([g, np.full((len(g), 1), 0.1)], axis=1)  # the plane z = 0.1
    out = arap_deform(v, f, v[None], np.full(len(v), 0.01), clouds=[cloud], cloud_weight=1.0)[0]
    assert np.all(out[:, 2] > 0.09)  # almost onto the plane
    np.testing.assert_allclose(out[:, :2], v[:, :2], atol=1e-9)  # no sliding along it
    normals = cloud_normals(cloud)
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0, atol=1e-9)
