"""DynoSurf's protocol (catlas.evaluate.dynosurf, docs/evaluation.md, 9): known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from catlas.data.synthetic import make_walking_creature
from catlas.errors import CatlasError
from catlas.evaluate import dynosurf as ds

N = 5000  # samples per surface in these tests (the protocol's 100k is the default)


def plane(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The unit square [0, 1]^2 at z = 0 as an n x n grid of triangle pairs: vertices
    ((n+1)^2, 3), faces (2 n^2, 3), normals +z. Its bounding box's longest side is 1."""
    x, y = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1), indexing="ij")
    v = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
    a, b, c, d = i.ravel(), i.ravel() + n + 1, i.ravel() + n + 2, i.ravel() + 1
    return v, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def plane_sequence(K: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The plane moved rigidly (a different translation per frame): vertices (K, V, 3)."""
    v, f = plane()
    moves = np.array([[0.3 * k, -0.1 * k, 0.2 * k] for k in range(K)])
    return v[None] + moves[:, None], f


@pytest.fixture(scope="module")
def creature() -> tuple[np.ndarray, np.ndarray]:
    v, f = make_walking_creature(n_frames=4)
    return v.astype(np.float64), f  # float64, so that scaling it is exact to rounding


# --- metrics on samples: exact answers ------------------------------------------------------

def test_identical_samples_score_perfectly():
    rng = np.random.default_rng(0)
    p = rng.random((400, 3))
    n = rng.normal(size=(400, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    m = ds.surface_metrics(p, n, p, n, thresholds=(0.0, 0.005, 0.01))
    assert m["chamfer_l2"] == 0.0 and m["chamfer_l1"] == 0.0
    assert (m["f_score"] == 1.0).all()
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-12)


def test_shift_far_below_the_spacing_gives_d_squared():
    rng = np.random.default_rng(1)
    p = rng.random((300, 3))
    n = np.tile([0.0, 0.0, 1.0], (300, 1))
    spacing = cKDTree(p).query(p, k=2)[0][:, 1].min()
    d = 0.1 * spacing
    assert d > 0
    shift = d * np.array([0.6, 0.0, 0.8])  # |shift| = d
    acc, acc_idx = ds.directed_distances(p + shift, p)
    comp, comp_idx = ds.directed_distances(p, p + shift)
    assert (acc_idx == np.arange(300)).all() and (comp_idx == np.arange(300)).all()
    assert ds.chamfer_l2(acc, comp) == pytest.approx(d * d, rel=1e-9)  # squared distances
    assert ds.chamfer_l1(acc, comp) == pytest.approx(d, rel=1e-9)
    assert ds.f_score(acc, comp, 0.99 * d) == 0.0
    assert ds.f_score(acc, comp, 1.01 * d) == 1.0
    assert ds.normal_consistency(n, n, acc_idx, comp_idx) == 1.0


def test_normal_consistency_ignores_orientation():
    n = np.random.default_rng(2).normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    idx = np.arange(50)
    assert ds.normal_consistency(-n, n, idx, idx) == pytest.approx(1.0, abs=1e-12)
    perpendicular = np.cross(n, [0.0, 0.0, 1.0])
    perpendicular /= np.linalg.norm(perpendicular, axis=1, keepdims=True)
    assert ds.normal_consistency(perpendicular, n, idx, idx) == pytest.approx(0.0, abs=1e-12)


def test_f_score_is_zero_when_nothing_is_within_the_threshold():
    assert ds.f_score(np.ones(5), np.ones(7), 0.5) == 0.0
    # one of two predicted samples and all GT samples within: P = 0.5, R = 1 -> F = 2/3
    assert ds.f_score(np.array([0.0, 1.0]), np.zeros(3), 0.5) == pytest.approx(2 / 3)


def test_thresholds_are_dynosurfs():
    # DynoSurf: F[4] and F[9] of linspace(1/1000, 1, 1000), distances <= t
    assert np.allclose(np.linspace(1 / 1000, 1, 1000)[[4, 9]], ds.F_THRESHOLDS, atol=1e-15)


# --- sampling ---------------------------------------------------------------------------------

def test_sample_mesh_lies_on_the_surface_by_area():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 0, 0], [2, 3, 0]], float)
    f = np.array([[0, 1, 2], [3, 4, 5]])  # areas 0.5 and 4.5, apart, normals +z
    pts, nrm = ds.sample_mesh(v, f, 20000, np.random.default_rng(3))
    assert pts.shape == nrm.shape == (20000, 3) and pts.dtype == np.float64
    assert (pts[:, 2] == 0).all() and np.allclose(nrm, [0, 0, 1])
    in_small = (pts[:, 0] <= 1).mean()
    assert in_small == pytest.approx(0.5 / 4.5, abs=0.01)


# --- the protocol on meshes -------------------------------------------------------------------

def test_identical_meshes():
    v, f = plane_sequence()
    r = ds.dynosurf_metrics(v, f, v, f, n_samples=N, thresholds=(0.1,), correspondence="vertices")
    assert r["normal_consistency"] == pytest.approx(1.0, abs=1e-12)  # a plane: exact
    assert (r["f_score"] == 1.0).all()
    assert (r["correspondence"] == 0.0).all() and r["correspondence"].shape == (2,)
    # independent samples on the two surfaces: a small floor, E|r|^2 = 1 / (pi N) on a unit square
    assert 0.0 < r["mean"]["chamfer_l2"] < 3.0 / (np.pi * N)
    s = ds.dynosurf_metrics(v, f, v, f, n_samples=N)  # the default target: GT surface samples
    assert 0.0 < s["mean"]["correspondence"] < 0.02


def test_shifted_mesh_gives_d_squared_and_f_score_steps():
    v, f = plane_sequence()
    d = 0.02  # along the normal; normalised units = input units (the box's longest side is 1)
    r = ds.dynosurf_metrics(v + [0.0, 0.0, d], f, v, f, n_samples=N, thresholds=(0.01, 0.019, 0.1),
                            correspondence="vertices")
    floor = 3.0 / (np.pi * N)
    assert (r["chamfer_l2"] >= d * d).all() and (r["chamfer_l2"] <= d * d + floor).all()
    assert (r["f_score"][:, :2] == 0.0).all() and (r["f_score"][:, 2] == 1.0).all()
    assert r["normal_consistency"] == pytest.approx(1.0, abs=1e-12)
    assert r["correspondence"] == pytest.approx(d, rel=1e-9)


def test_flipped_winding_keeps_normal_consistency():
    v, f = plane_sequence()
    r = ds.dynosurf_metrics(v, f[:, ::-1], v, f, n_samples=N)
    assert r["normal_consistency"] == pytest.approx(1.0, abs=1e-12)


def test_rigidly_moved_prediction_has_the_shift_as_correspondence_error(creature):
    v, f = creature
    spacing = cKDTree(v[0]).query(v[0], k=2)[0][:, 1].min()
    t = 0.2 * spacing * np.array([2.0, -1.0, 2.0]) / 3.0  # |t| = 0.2 spacing
    r = ds.dynosurf_metrics(v + t, f, v, f, n_samples=N, correspondence="vertices")
    # per-frame normalisation: frame k's error is |t| over GT frame k's longest box side
    assert r["correspondence"] == pytest.approx(np.linalg.norm(t) / r["scale"][1:], rel=1e-9)
    assert np.allclose(r["scale"], np.ptp(v, axis=1).max(axis=1))
    # the generic function on the GT vertices gives the same, in input units
    assert ds.correspondence_error(v + t, v) == pytest.approx(np.linalg.norm(t), rel=1e-9)


def test_surface_target_is_a_tracked_gt_point_cloud(creature):
    """The default target equals the generic error against a full GT point sequence built like
    DynoSurf's pcl_seqs (frame-0 samples carried by their provenance), in normalised units."""
    from catlas.data.sampling import points_from_provenance, sample_surface

    v, f = creature
    pred = v + np.random.default_rng(6).normal(0.0, 0.01, v.shape)
    r = ds.dynosurf_metrics(pred, f, v, f, n_samples=N, seed=7)
    c, s = r["centre"][:, None], r["scale"][:, None, None]
    gt_n, pred_n = (v - c) / s, (pred - c) / s
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(2)[1])
    face_idx, bary = sample_surface(gt_n[0], f, N, rng)[1:]
    pcl_seq = points_from_provenance(gt_n, f, face_idx, bary)  # (K, N, 3)
    np.testing.assert_allclose(r["correspondence"], ds.correspondence_error(pred_n, pcl_seq),
                               rtol=1e-12)


def test_invariant_to_scaling_both_sequences(creature):
    v, f = creature
    pred = v + np.random.default_rng(4).normal(0.0, 0.01, v.shape)
    a = ds.dynosurf_metrics(pred, f, v, f, n_samples=N)
    move = np.array([5.0, -2.0, 1.0])
    b = ds.dynosurf_metrics(3.7 * pred + move, f, 3.7 * v + move, f, n_samples=N)
    for name in ("chamfer_l2", "chamfer_l1", "normal_consistency", "f_score", "correspondence"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(b["scale"], 3.7 * a["scale"], rtol=1e-12)


def test_normalisation_is_per_frame(creature):
    v, f = creature
    pred = v + np.random.default_rng(5).normal(0.0, 0.01, v.shape)
    a = ds.dynosurf_metrics(pred, f, v, f, n_samples=N)
    factor = np.array([1.0, 2.5, 1.0, 0.4])[:, None, None]  # frames 1, 3 of both rescaled
    b = ds.dynosurf_metrics(pred * factor, f, v * factor, f, n_samples=N)
    for name in ("chamfer_l2", "normal_consistency", "f_score", "correspondence"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-9, atol=1e-15)


def test_result_layout_and_seed(creature):
    v, f = creature
    pred = v + 0.01
    r = ds.dynosurf_metrics(pred, f, v, f, n_samples=N, seed=3)
    K, T = len(v), len(ds.F_THRESHOLDS)
    for name in ("chamfer_l2", "chamfer_l1", "normal_consistency", "accuracy", "completeness"):
        assert r[name].shape == (K,)
        assert r["mean"][name] == pytest.approx(r[name].mean())
    assert r["f_score"].shape == (K, T) and r["mean"]["f_score"].shape == (T,)
    assert r["correspondence"].shape == (K - 1,)
    assert r["centre"].shape == (K, 3) and r["n_samples"] == N and r["seed"] == 3
    again = ds.dynosurf_metrics(pred, f, v, f, n_samples=N, seed=3)
    assert np.array_equal(again["chamfer_l2"], r["chamfer_l2"])
    other = ds.dynosurf_metrics(pred, f, v, f, n_samples=N, seed=4)
    assert not np.array_equal(other["chamfer_l2"], r["chamfer_l2"])


def test_single_frame_has_no_correspondence_error():
    v, f = plane_sequence(K=1)
    r = ds.dynosurf_metrics(v, f, v, f, n_samples=500)
    assert r["correspondence"].shape == (0,) and np.isnan(r["mean"]["correspondence"])


def test_bad_inputs_are_named():
    v, f = plane_sequence()
    with pytest.raises(CatlasError, match="frames"):
        ds.dynosurf_metrics(v[:2], f, v, f, n_samples=100)
    with pytest.raises(CatlasError, match="outside"):
        ds.dynosurf_metrics(v, f + len(v[0]), v, f, n_samples=100)
    with pytest.raises(CatlasError, match="correspondence"):
        ds.dynosurf_metrics(v, f, v, f, n_samples=100, correspondence="nearest")
    with pytest.raises(CatlasError, match="n_samples"):
        ds.dynosurf_metrics(v, f, v, f, n_samples=0)
    with pytest.raises(CatlasError, match="seed"):
        ds.dynosurf_metrics(v, f, v, f, n_samples=100, seed=-1)
    flat = v.copy()
    flat[1] = 0.0
    with pytest.raises(CatlasError, match="bounding box"):
        ds.dynosurf_metrics(v, f, flat, f, n_samples=100)
    collapsed = v.copy()
    collapsed[2, :, 1] = 0.0  # the predicted frame 2 has no area
    with pytest.raises(CatlasError, match="predicted frame 2"):
        ds.dynosurf_metrics(collapsed, f, v, f, n_samples=100)
