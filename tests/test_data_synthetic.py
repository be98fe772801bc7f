"""Built-in examples: walking creature, bending sheet, writing a frame folder."""

import numpy as np
import pytest
import trimesh

from catlas.config import DataConfig
from catlas.data import load_sequence, make_walking_creature, write_example
from catlas.data.synthetic import make_bending_sheet
from catlas.errors import CatlasError


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
