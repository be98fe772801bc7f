"""Built-in examples: walking creature, marching humanoid, bending sheet, writing a frame folder."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from catlas.cli import main
from catlas.config import DataConfig
from catlas.data import load_sequence, make_walking_creature, write_example
from catlas.data.synthetic import (_humanoid_parts, humanoid_part_labels, make_bending_sheet,
                                   make_humanoid)
from catlas.errors import CatlasError
from catlas.evaluate import EvalSettings, evaluate_nearest


def _edge_change(verts, faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    L = np.linalg.norm(verts[:, e[:, 0]] - verts[:, e[:, 1]], axis=-1)
    return np.abs(L[1:] - L[:-1]) / L[:-1]


def test_creature_shape_deforms_isometric_closed():
    V, F = make_walking_creature(12)
    assert V.shape[0] == 12 and V.dtype == np.float32 and F.dtype == np.int64
    assert 1500 <= V.shape[1] <= 3000 and F.max() == V.shape[1] - 1
    assert np.isfinite(V).all()
    assert np.abs(V[1:] - V[:1]).max() > 0.05  # it moves
    assert _edge_change(V, F).mean(axis=1).max() < 0.05  # roughly isometric
    size = V[0].max(0) - V[0].min(0)
    assert 0.8 < size.max() < 1.3 and np.argmax(size) == 2  # about 1 long, along z
    for k in (0, 5):
        m = trimesh.Trimesh(V[k], F, process=False)
        assert m.is_watertight and m.is_winding_consistent and m.volume > 0
        assert all(c.volume > 0 for c in m.split(only_watertight=False))  # outward normals


def test_creature_deterministic_and_seeded():
    a, fa = make_walking_creature(4, seed=3)
    b, fb = make_walking_creature(4, seed=3)
    c, _ = make_walking_creature(4, seed=4)
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert not np.array_equal(a, c)


def test_humanoid_shape_closed_components():
    V, F = make_humanoid(12)
    assert V.shape[0] == 12 and V.dtype == np.float32 and F.dtype == np.int64
    assert 2000 <= V.shape[1] <= 3200 and F.max() == V.shape[1] - 1
    assert np.isfinite(V).all()
    labels = humanoid_part_labels()
    assert labels.shape == (V.shape[1],) and np.unique(labels).tolist() == list(range(6))
    assert _edge_change(V, F).mean(axis=1).max() < 0.05  # roughly isometric on average
    size = V[0].max(0) - V[0].min(0)
    assert 0.85 < size[1] < 1.1 and np.argmax(size) == 1  # about 1 tall, along y
    for k in (0, 4, 9):
        m = trimesh.Trimesh(V[k], F, process=False)
        assert m.is_watertight and m.is_winding_consistent and m.volume > 0
        parts = m.split(only_watertight=False)
        assert len(parts) == 6 and all(c.volume > 0 for c in parts)  # 6 closed parts, outward
        assert sorted(len(c.vertices) for c in parts) == sorted(np.bincount(labels).tolist())


def test_humanoid_deterministic_and_seeded():
    a, fa = make_humanoid(4, seed=3)
    b, fb = make_humanoid(4, seed=3)
    c, fc = make_humanoid(4, seed=4)
    assert np.array_equal(a, b) and np.array_equal(fa, fb) and np.array_equal(fa, fc)
    assert not np.array_equal(a, c)


def _distal(labels: np.ndarray) -> np.ndarray:
    """Hands and feet: each limb's vertices in the lowest quarter of its rest length."""
    rest = np.concatenate([p.rest for p in _humanoid_parts().values()])
    out = np.zeros(len(labels), bool)
    for part in (2, 3, 4, 5):  # arms, legs
        y = rest[labels == part, 1]
        out[labels == part] = y < y.min() + 0.25 * (y.max() - y.min())
    return out


def test_humanoid_moves_far_and_limbs_pass_each_other():
    # measured (seeds 0-3): displacement over half a cycle 0.16 of the height (creature: 0.05
    # of its length); hands and feet -> another part in 85-87 % of cases
    V, _ = make_humanoid(24, seed=0)
    h = V[0, :, 1].max() - V[0, :, 1].min()
    disp = np.mean([np.linalg.norm(V[k + 12] - V[k], axis=1).mean() for k in range(12)])
    assert disp / h > 0.12
    labels = humanoid_part_labels()
    ext = _distal(labels)
    assert 300 < ext.sum() < 500
    other = [(labels[cKDTree(V[k + 12]).query(V[k][ext])[1]] != labels[ext]).mean() for k in range(12)]
    assert np.mean(other) > 0.7 and max(other) > 0.95


def test_humanoid_defeats_the_nearest_vertex_map():
    # the point of the sequence: nearest scores msL2 about 100 on it (about 30 on the creature)
    settings = EvalSettings(pairs=40, seed=0)
    msl2 = {name: evaluate_nearest(make(8)[0].astype(np.float64), settings)
            .summary["conventions"]["code"]["msL2"]["mean"]
            for name, make in (("humanoid", make_humanoid), ("creature", make_walking_creature))}
    assert msl2["humanoid"] > 80 and msl2["humanoid"] > 2.5 * msl2["creature"]


def test_sheet_isometric_open():
    V, F = make_bending_sheet(6)
    assert np.allclose(V[0, :, 2], 0)  # flat at frame 0
    assert _edge_change(V, F).max() < 0.01
    assert np.abs(V[-1] - V[0]).max() > 0.2
    assert not trimesh.Trimesh(V[0], F, process=False).is_watertight


def test_write_example_roundtrip_and_refuses(tmp_path):
    out = tmp_path / "ex"
    paths = write_example(out, n_frames=3)
    assert [p.name for p in paths] == ["frame_000.obj", "frame_001.obj", "frame_002.obj"]
    V, F = make_walking_creature(3)
    seq = load_sequence(out, DataConfig(points_per_frame=500, normalize=False),
                        np.random.default_rng(0))
    assert seq.faces is not None and np.array_equal(seq.faces, F)
    assert np.allclose(seq.vertices, V, atol=1e-5)
    with pytest.raises(CatlasError, match="ex"):
        write_example(out, n_frames=2)
    write_example(out, n_frames=2, fmt="ply", force=True)
    assert sorted(p.name for p in out.iterdir()) == ["frame_000.ply", "frame_001.ply"]


def test_write_example_humanoid_and_unknown_kind(tmp_path):
    out = tmp_path / "hu"
    write_example(out, n_frames=2, kind="humanoid", seed=5)
    V, F = make_humanoid(2, seed=5)
    seq = load_sequence(out, DataConfig(points_per_frame=500, normalize=False),
                        np.random.default_rng(0))
    assert np.array_equal(seq.faces, F) and np.allclose(seq.vertices, V, atol=1e-5)
    with pytest.raises(CatlasError, match="creature, sheet, humanoid"):
        write_example(tmp_path / "x", kind="robot")
    assert main(["example", str(tmp_path / "cli"), "--frames", "2", "--kind", "humanoid"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["frame_000.obj", "frame_001.obj"]
    assert np.allclose(load_sequence(tmp_path / "cli", DataConfig(points_per_frame=500, normalize=False),
                                     np.random.default_rng(0)).vertices, make_humanoid(2)[0], atol=1e-5)
