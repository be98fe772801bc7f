"""Area-weighted surface sampling and provenance."""

import numpy as np
import pytest

from catlas.data import points_from_provenance, sample_surface
from catlas.data.sampling import triangle_areas
from catlas.errors import CatlasError

# two disjoint triangles with areas 0.5 and 1.5 (ratio 1:3)
V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0],
              [5, 0, 0], [8, 0, 0], [5, 1, 0]], dtype=np.float64)
F = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.int64)


def test_area_ratio_and_types():
    rng = np.random.default_rng(0)
    pts, fi, bary = sample_surface(V, F, 40_000, rng)
    assert pts.shape == (40_000, 3) and pts.dtype == np.float32
    assert fi.dtype == np.int64 and bary.dtype == np.float32 and bary.shape == (40_000, 3)
    frac = np.mean(fi == 1)
    assert abs(frac - 0.75) < 0.01
    assert np.all(bary >= 0) and np.allclose(bary.sum(1), 1, atol=1e-6)


def test_points_on_surface_and_uniform_within_triangle():
    rng = np.random.default_rng(1)
    pts, fi, _ = sample_surface(V[:3], F[:1], 20_000, rng)
    assert np.allclose(pts[:, 2], 0)
    assert np.all(pts[:, :2] >= -1e-6) and np.all(pts[:, 0] + pts[:, 1] <= 1 + 1e-6)
    # uniform: the sub-triangle x + y < 1/sqrt(2) holds half the area
    assert abs(np.mean(pts[:, 0] + pts[:, 1] < 1 / np.sqrt(2)) - 0.5) < 0.015
    # and the left half x < 0.5 holds 3/4 of it
    assert abs(np.mean(pts[:, 0] < 0.5) - 0.75) < 0.015


def test_provenance_reproduces_and_transfers():
    rng = np.random.default_rng(2)
    pts, fi, bary = sample_surface(V, F, 500, rng)
    assert np.array_equal(points_from_provenance(V, F, fi, bary).astype(np.float32), pts)
    # another "frame": a rigid motion of the same mesh moves the samples with it
    R = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    V2 = V @ R.T + [1, 2, 3]
    moved = points_from_provenance(np.stack([V, V2]), F, fi, bary)
    assert moved.shape == (2, 500, 3)
    assert np.allclose(moved[1], pts.astype(np.float64) @ R.T + [1, 2, 3], atol=1e-5)
    # per-frame provenance (K, n)
    per = points_from_provenance(np.stack([V, V2]), F, np.stack([fi, fi[::-1]]),
                                 np.stack([bary, bary[::-1]]))
    assert np.allclose(per[0], pts, atol=1e-6) and np.allclose(per[1], moved[1][::-1])


def test_triangle_areas_and_zero_area():
    assert np.allclose(triangle_areas(V, F), [0.5, 1.5])
    flat = np.zeros((3, 3))
    with pytest.raises(CatlasError, match="zero surface area"):
        sample_surface(flat, F[:1], 10, np.random.default_rng(0))
