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


SHIFTS = np.array([[0.0, 0.0, 0.0], [5.0, -3.0, 1.0], [-7.5, 2.0, 11.0], [0.5, 40.0, -2.0]])


def _shifted_creature(path, shifts=None):
    """The walking creature as OBJ frames, frame k moved by ``shifts[k]`` (None: in place)."""
    V, F = make_walking_creature(len(SHIFTS))
    path.mkdir(parents=True)
    for k, v in enumerate(V):
        s = 0.0 if shifts is None else shifts[k]
        trimesh.Trimesh(v.astype(np.float64) + s, F, process=False).export(path / f"f{k}.obj")
    return V.astype(np.float64), F


def test_center_frames_removes_each_frames_translation(tmp_path):
    """data.center_frames: frame k is shifted by its own vertex mean, then the common scale of
    frame 0; a sequence moved by a different vector per frame normalises to the same points as
    the one in place, and every conversion undoes frame k's own shift."""
    cfg = DataConfig(points_per_frame=300, min_points=5, center_frames=True)
    V, _ = _shifted_creature(tmp_path / "still")
    _shifted_creature(tmp_path / "moving", SHIFTS)
    still = load_sequence(tmp_path / "still", cfg, _rng())
    moving = load_sequence(tmp_path / "moving", cfg, _rng())
    for name in ("points", "vertices", "areas"):
        np.testing.assert_allclose(getattr(moving, name), getattr(still, name), atol=2e-6, err_msg=name)
    np.testing.assert_array_equal(moving.sample_faces, still.sample_faces)
    np.testing.assert_allclose(moving.frame_centers, V.mean(axis=1) + SHIFTS, atol=1e-9)
    np.testing.assert_allclose(moving.center, moving.frame_centers[0])
    assert moving.scale == pytest.approx((V[0].max(0) - V[0].min(0)).max())
    np.testing.assert_allclose(moving.vertices.mean(axis=1), 0.0, atol=1e-6)  # each frame centred
    # off (the default): one centre, frame 0's, so the motion stays in the normalised points
    plain = load_sequence(tmp_path / "moving", DataConfig(points_per_frame=300, min_points=5), _rng())
    assert plain.frame_centers is None
    np.testing.assert_allclose(plain.vertices[2].mean(0) - plain.vertices[0].mean(0),
                               (SHIFTS[2] + V[2].mean(0) - V[0].mean(0)) / plain.scale, atol=1e-6)
    # every frame back to its own input position, all frames or a chosen few
    inputs = V + SHIFTS[:, None]
    np.testing.assert_allclose(moving.to_input_units(moving.vertices), inputs, atol=1e-4)
    np.testing.assert_allclose(moving.to_input_units(moving.vertices[2], frames=2), inputs[2], atol=1e-4)
    np.testing.assert_allclose(moving.to_input_units(moving.vertices[[3, 1]], frames=[3, 1]),
                               inputs[[3, 1]], atol=1e-4)
    np.testing.assert_allclose(moving.to_input_units(moving.vertices[-1], frames=-1), inputs[3], atol=1e-4)
    x = np.random.default_rng(1).normal(size=(4, 7, 5, 3))
    np.testing.assert_allclose(moving.to_normalized(moving.to_input_units(x)), x, atol=1e-12)
    for k in range(4):
        np.testing.assert_allclose(moving.to_normalized(moving.to_input_units(x[k], frames=k), frames=k),
                                   x[k], atol=1e-12)
        np.testing.assert_allclose(moving.to_input_units(x[k], frames=k), moving.to_input_units(x)[k])
    # a frame's coordinates without saying which frame: refused, not shifted by another's centre
    with pytest.raises(ValueError, match="centred per frame"):
        moving.to_input_units(moving.vertices[0])
    with pytest.raises(ValueError, match="2 frames"):
        moving.to_input_units(moving.vertices, frames=[0, 1])
    with pytest.raises(IndexError, match="frame 4 out of range"):
        moving.to_normalized(inputs[0], frames=4)
    # without per-frame centres the frame changes nothing and any (..., 3) is taken, as before
    y = plain.vertices[1]
    np.testing.assert_array_equal(plain.to_input_units(y), y.astype(np.float64) * plain.scale + plain.center)
    np.testing.assert_array_equal(plain.to_input_units(y, frames=1), plain.to_input_units(y))
    np.testing.assert_array_equal(plain.centers, np.tile(plain.center, (4, 1)))


def test_center_frames_clouds_and_without_normalize(tmp_path):
    """Clouds: c_k is the mean of all of frame k's input points (not of the stored subset);
    with data.normalize off the scale stays 1 and only the per-frame shift applies."""
    rng = np.random.default_rng(3)
    clouds = [rng.normal(size=(500, 3)) * [1, 2, 3] + s for s in SHIFTS[:3]]
    for k, c in enumerate(clouds):
        np.save(tmp_path / f"{k}.npy", c)
    seq = load_sequence(tmp_path, DataConfig(points_per_frame=200, min_points=5, center_frames=True,
                                             normalize=False), _rng())
    assert seq.scale == 1.0
    np.testing.assert_allclose(seq.frame_centers, [c.mean(0) for c in clouds])
    for k, c in enumerate(clouds):
        back = seq.to_input_units(seq.points[k], frames=k)
        assert set(map(tuple, back.round(4))) <= set(map(tuple, c.round(4)))


def test_npz_keeps_frame_centers_and_older_files_load(tmp_path):
    """frame_centers round-trips through sequence.npz; a file without it (every run written
    before data.center_frames, and every run with it off) loads with one centre."""
    _shifted_creature(tmp_path / "moving", SHIFTS)
    seq = load_sequence(tmp_path / "moving", DataConfig(points_per_frame=300, min_points=5,
                                                        center_frames=True), _rng())
    seq.save_npz(tmp_path / "s.npz")
    back = Sequence.load_npz(tmp_path / "s.npz")
    assert back.frame_centers.dtype == np.float64
    np.testing.assert_array_equal(back.frame_centers, seq.frame_centers)
    np.testing.assert_array_equal(back.to_input_units(back.points), seq.to_input_units(seq.points))
    old = load_sequence(tmp_path / "moving", CFG, _rng())
    old.save_npz(tmp_path / "old.npz")
    assert "frame_centers" not in np.load(tmp_path / "old.npz").files
    assert Sequence.load_npz(tmp_path / "old.npz").frame_centers is None
    d = dict(np.load(tmp_path / "s.npz"))
    d["frame_centers"] = d["frame_centers"][:2]
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(CatlasError, match=r"bad.npz: frame_centers has shape \(2, 3\), expected \(4, 3\)"):
        Sequence.load_npz(tmp_path / "bad.npz")


def _turned_creature(path, degrees_per_frame: float, shifts):
    """The walking creature as OBJ frames, frame k turned about y by k * degrees_per_frame about
    its vertex mean and moved by ``shifts[k]``. Returns its (K, V, 3) vertices and the turns."""
    from scipy.spatial.transform import Rotation

    V, F = make_walking_creature(len(shifts))
    path.mkdir(parents=True)
    turns = Rotation.from_euler("y", (degrees_per_frame * np.arange(len(shifts)))[:, None], degrees=True).as_matrix()
    out = []
    for k, v in enumerate(V.astype(np.float64)):
        c = v.mean(axis=0)
        out.append((v - c) @ turns[k].T + c + shifts[k])
        trimesh.Trimesh(out[-1], F, process=False).export(path / f"f{k}.obj")
    return np.stack(out), turns


TURN_SHIFTS = np.linspace(0.0, 1.0, 12)[:, None] * [3.0, 0.5, -2.0]
"""A drift of several body lengths over 12 frames."""


def test_align_frames_turns_each_frame_back_and_every_conversion_undoes_it(tmp_path):
    """data.align_frames: a creature that turns 10 degrees per frame (110 in all) and travels
    normalises to (nearly) the creature in place, centred per frame: each R_k is the frame's turn
    back, a proper rotation, within 5 degrees (the legs move too, and the chain adds up: 3.7
    measured), and within 0.5 degrees of turn k times what the same alignment finds on the
    creature in place; the conversions undo frame k's own turn and shift exactly; sequence.npz keeps the
    rotations; a bad shape is refused."""
    cfg = DataConfig(points_per_frame=300, min_points=5, align_frames=True)
    inputs, turns = _turned_creature(tmp_path / "turning", 10.0, TURN_SHIFTS)
    _turned_creature(tmp_path / "still", 0.0, 0 * TURN_SHIFTS)
    seq = load_sequence(tmp_path / "turning", cfg, _rng())
    still = load_sequence(tmp_path / "still", DataConfig(points_per_frame=300, min_points=5,
                                                         center_frames=True), _rng())
    R = seq.frame_rotations
    assert R.shape == (12, 3, 3) and R.dtype == np.float64
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.tile(np.eye(3), (12, 1, 1)), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    np.testing.assert_array_equal(R[0], np.eye(3))
    def degrees(a, b):  # (K,) angles between rotations
        return np.degrees(np.arccos(np.clip((np.trace(a.transpose(0, 2, 1) @ b, axis1=1, axis2=2) - 1) / 2, -1, 1)))

    assert (degrees(turns, R) < 5.0).all(), degrees(turns, R)  # R_k undoes turn k: turn_k^T @ R_k = I
    # ... up to the turns it finds in the gait itself, the same in the copy that does not turn
    in_place = load_sequence(tmp_path / "still", cfg, _rng()).frame_rotations
    assert (degrees(turns @ in_place, R) < 0.5).all(), degrees(turns @ in_place, R)
    np.testing.assert_allclose(seq.frame_centers, inputs.mean(axis=1), atol=1e-9)
    assert np.abs(seq.vertices - still.vertices).max() < 0.05  # the body is 1 long
    # every frame back to its input position and orientation, all frames or chosen ones
    np.testing.assert_allclose(seq.to_input_units(seq.vertices), inputs, atol=1e-4)
    np.testing.assert_allclose(seq.to_input_units(seq.vertices[2], frames=2), inputs[2], atol=1e-4)
    np.testing.assert_allclose(seq.to_input_units(seq.vertices[[9, 1]], frames=[9, 1]), inputs[[9, 1]], atol=1e-4)
    x = np.random.default_rng(1).normal(size=(12, 7, 5, 3))
    np.testing.assert_allclose(seq.to_normalized(seq.to_input_units(x)), x, atol=1e-12)
    for k in (0, 5, 11):
        np.testing.assert_allclose(seq.to_normalized(seq.to_input_units(x[k], frames=k), frames=k), x[k], atol=1e-12)
        np.testing.assert_allclose(seq.to_input_units(x[k], frames=k), seq.to_input_units(x)[k])
    with pytest.raises(ValueError, match="centred per frame"):
        seq.to_input_units(seq.vertices[0])
    seq.save_npz(tmp_path / "s.npz")
    back = Sequence.load_npz(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.frame_rotations, R)
    np.testing.assert_array_equal(back.to_input_units(back.points), seq.to_input_units(seq.points))
    d = dict(np.load(tmp_path / "s.npz"))
    d["frame_rotations"] = d["frame_rotations"][:, :2]
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(CatlasError, match=r"bad.npz: frame_rotations has shape \(12, 2, 3\)"):
        Sequence.load_npz(tmp_path / "bad.npz")
