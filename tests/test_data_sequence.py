"""Loading sequences: normalisation, resampling, provenance, errors, npz round trip."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

from catlas.config import DataConfig
from catlas.data import Sequence, load_sequence, make_walking_creature, points_from_provenance
from catlas.errors import CatlasError

SHARED = Path(__file__).parents[2] / "shared"
CAT = SHARED / "data" / "cat_walk"
CFG = DataConfig(points_per_frame=300, min_points=5)


def _rng():
    return np.random.default_rng(0)


def _box():
    m = trimesh.creation.box(extents=(2.0, 4.0, 1.0))
    return np.asarray(m.vertices) + [10, 20, 30], np.asarray(m.faces, dtype=np.int64)


def test_hand_made_normalisation_meshes(tmp_path):
    v, f = _box()
    for k in range(3):
        trimesh.Trimesh(v + [k, 0, 0], f, process=False).export(tmp_path / f"f{k}.ply")
    seq = load_sequence(tmp_path, CFG, _rng())
    assert np.allclose(seq.center, [10, 20, 30]) and seq.scale == pytest.approx(4.0)
    assert seq.points.shape == (3, 300, 3) and seq.points.dtype == np.float32
    assert seq.n_frames == 3 and seq.n_stored == 300
    assert np.allclose(seq.vertices[0], (v - [10, 20, 30]) / 4, atol=1e-6)
    assert np.allclose(seq.vertices[2, :, 0] - seq.vertices[0, :, 0], 0.5, atol=1e-6)  # motion kept
    assert np.allclose(seq.areas, 2 * (8 + 2 + 4) / 16)
    assert np.abs(seq.points[0]).max() <= 0.5 + 1e-6
    assert np.allclose(seq.to_input_units(seq.vertices[1]), v + [1, 0, 0], atol=1e-5)
    assert np.allclose(seq.to_normalized(seq.to_input_units(seq.points)), seq.points, atol=1e-6)
    # provenance reproduces the stored points, frame by frame
    assert np.allclose(points_from_provenance(seq.vertices, seq.faces, seq.sample_faces,
                                              seq.sample_bary), seq.points, atol=1e-6)
    # independent sampling per frame
    assert not np.array_equal(seq.sample_faces[0], seq.sample_faces[1])


def test_no_normalise_and_clouds(tmp_path):
    rng = np.random.default_rng(5)
    big, small = rng.normal(size=(500, 3)), rng.normal(size=(50, 3))
    np.save(tmp_path / "a.npy", big)
    np.save(tmp_path / "b.npy", small)
    seq = load_sequence(tmp_path, DataConfig(points_per_frame=300, min_points=5, normalize=False),
                        _rng())
    assert seq.scale == 1.0 and np.array_equal(seq.center, np.zeros(3))
    assert seq.vertices is None and seq.areas is None and seq.sample_faces is None
    # subset without replacement
    assert len(np.unique(seq.points[0], axis=0)) == 300
    assert set(map(tuple, seq.points[0])) <= set(map(tuple, big.astype(np.float32)))
    # padded: every input point kept, some repeated
    assert set(map(tuple, seq.points[1])) == set(map(tuple, small.astype(np.float32)))
    # normalised: frame 0's point mean and bbox side
    seq = load_sequence(tmp_path, CFG, _rng())
    assert np.allclose(seq.center, big.mean(0))
    assert seq.scale == pytest.approx((big.max(0) - big.min(0)).max())


def test_different_connectivity_no_gt(tmp_path):
    v, f = _box()
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "0.obj")
    m = trimesh.creation.icosphere(1)
    trimesh.Trimesh(m.vertices, m.faces, process=False).export(tmp_path / "1.obj")
    seq = load_sequence(tmp_path, CFG, _rng())
    assert seq.vertices is None and seq.faces is None and seq.sample_faces is None
    assert seq.areas.shape == (2,) and seq.points.shape == (2, 300, 3)


def test_array_sequence_files(tmp_path):
    V, F = make_walking_creature(3)
    np.savez(tmp_path / "m.npz", vertices=V, faces=F)
    seq = load_sequence(tmp_path / "m.npz", CFG, _rng())
    assert seq.names == ["m.npz[0]", "m.npz[1]", "m.npz[2]"] and np.array_equal(seq.faces, F)
    np.save(tmp_path / "c.npy", V)
    seq = load_sequence(tmp_path / "c.npy", CFG, _rng())
    assert seq.vertices is None and seq.points.shape == (3, 300, 3)
    np.save(tmp_path / "one.npy", V[:1])  # a single frame is fine
    assert load_sequence(tmp_path / "one.npy", CFG, _rng()).n_frames == 1


def test_npz_round_trip(tmp_path):
    V, F = make_walking_creature(2)
    np.savez(tmp_path / "m.npz", vertices=V, faces=F)
    seq = load_sequence(tmp_path / "m.npz", CFG, _rng())
    seq.save_npz(tmp_path / "run" / "data.npz")
    back = Sequence.load_npz(tmp_path / "run" / "data.npz")
    assert back.names == seq.names and back.scale == seq.scale and back.source == seq.source
    for k in ("points", "center", "vertices", "faces", "sample_faces", "sample_bary", "areas"):
        a, b = getattr(seq, k), getattr(back, k)
        assert a.dtype == b.dtype and np.array_equal(a, b), k
    np.save(tmp_path / "c.npy", V)
    cl = load_sequence(tmp_path / "c.npy", CFG, _rng())
    cl.save_npz(tmp_path / "c_seq.npz")
    back = Sequence.load_npz(tmp_path / "c_seq.npz")
    assert back.vertices is None and back.areas is None and np.array_equal(back.points, cl.points)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(CatlasError, match="junk.npz"):
        Sequence.load_npz(tmp_path / "junk.npz")


def _expect(path, name, cfg=CFG):
    with pytest.raises(CatlasError) as e:
        load_sequence(path, cfg, _rng())
    assert name in str(e.value), str(e.value)
    return str(e.value)


def test_sequence_errors(tmp_path):
    d = tmp_path / "few"
    d.mkdir()
    np.save(d / "000.npy", np.random.default_rng(0).normal(size=(50, 3)))
    np.save(d / "001.npy", np.random.default_rng(0).normal(size=(4, 3)))
    assert "4 points" in _expect(d, "001.npy")
    d = tmp_path / "mix"
    d.mkdir()
    v, f = _box()
    trimesh.Trimesh(v, f, process=False).export(d / "a.ply")
    trimesh.PointCloud(np.random.default_rng(0).normal(size=(20, 3))).export(d / "b.ply")
    _expect(d, "b.ply")
    d = tmp_path / "same"
    d.mkdir()
    np.save(d / "000.npy", np.ones((20, 3)))
    _expect(d, "000.npy")
    d = tmp_path / "nanny"
    d.mkdir()
    bad = np.zeros((20, 3))
    bad[3, 1] = np.nan
    np.save(d / "1.npy", bad)
    _expect(d, "1.npy")
    _expect(tmp_path / "missing", "missing")
    d = tmp_path / "flat"
    d.mkdir()
    trimesh.Trimesh(np.zeros((8, 3)) + np.arange(8)[:, None] * [1, 0, 0], f, process=False).export(
        d / "line.obj")
    _expect(d, "line.obj")


def test_cat_walk_normalisation():
    if not CAT.is_dir():
        pytest.skip("shared data not present")
    seq = load_sequence(CAT, DataConfig(points_per_frame=1000), _rng())
    assert seq.n_frames == 35 and seq.names[0] == "mesh.01.obj"
    assert seq.scale == pytest.approx(117.33, abs=1e-2)
    assert np.allclose(seq.center, [0.298, 29.972, 15.432], atol=1e-2)
    assert seq.vertices.shape == (35, 1297, 3) and seq.faces.shape == (2576, 3)
    assert 0.79 < seq.areas.min() and seq.areas.max() < 0.815
    assert np.abs(seq.vertices[:, :, 2].max(1) - seq.vertices[:, :, 2].min(1)).mean() == \
        pytest.approx(1.002, abs=2e-3)
