"""Reading frames: listing, every format's round trip, and every bad input."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

from catlas.data import list_frames, read_array_sequence, read_frame
from catlas.data.io import natural_key
from catlas.errors import CatlasError

SHARED = Path(__file__).parents[2] / "shared"
CAT = SHARED / "data" / "cat_walk"

RNG = np.random.default_rng(0)
VERTS = RNG.normal(size=(7, 3)).round(4)  # arbitrary order, not sorted: checks vertex order
FACES = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [1, 4, 6]], dtype=np.int64)
CLOUD = RNG.normal(size=(20, 3)).round(5)


def test_natural_sort(tmp_path):
    for n in ["frame10.npy", "frame2.npy", "frame1.npy", "Frame3.npy", ".hidden.npy"]:
        np.save(tmp_path / n, CLOUD)
    (tmp_path / "notes.md").write_text("hi")
    assert [p.name for p in list_frames(tmp_path)] == [
        "frame1.npy", "frame2.npy", "Frame3.npy", "frame10.npy"]
    assert sorted(["a10", "a9", "a1b"], key=natural_key) == ["a1b", "a9", "a10"]


@pytest.mark.parametrize("ext", ["ply", "obj", "off"])
def test_mesh_roundtrip(tmp_path, ext):
    p = tmp_path / f"m.{ext}"
    trimesh.Trimesh(VERTS, FACES, process=False).export(p)
    f = read_frame(p)
    assert f.is_mesh and f.points.dtype == np.float64 and f.faces.dtype == np.int64
    assert np.allclose(f.points, VERTS, atol=1e-5)
    assert np.array_equal(f.faces, FACES)


@pytest.mark.parametrize("ext", ["ply", "obj"])
def test_vertex_only_file_is_cloud(tmp_path, ext):
    p = tmp_path / f"c.{ext}"
    if ext == "ply":
        trimesh.PointCloud(CLOUD).export(p)
    else:
        p.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in CLOUD))
    f = read_frame(p)
    assert not f.is_mesh and np.allclose(f.points, CLOUD, atol=1e-5)


def test_polygons_fan_triangulated(tmp_path):
    obj = tmp_path / "poly.obj"
    obj.write_text("# comment\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv .5 1.5 0\nv 0 1 0\nvt 0 0\n"
                   "f 1/1 2/1 3/1 4/1 5/1\nf -3 -2 -1\n")
    f = read_frame(obj)
    assert f.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [2, 3, 4]]
    off = tmp_path / "poly.off"
    off.write_text("OFF\n5 1 0\n0 0 0\n1 0 0\n1 1 0\n.5 1.5 0\n0 1 0\n5 0 1 2 3 4\n")
    assert read_frame(off).faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4]]


@pytest.mark.parametrize("ext,sep", [("xyz", " "), ("txt", ","), ("txt", "\t")])
def test_text_cloud_roundtrip(tmp_path, ext, sep):
    p = tmp_path / f"c.{ext}"
    normals = np.ones_like(CLOUD)
    lines = ["# x y z nx ny nz", ""] + [sep.join(map(repr, r)) for r in np.hstack([CLOUD, normals]).tolist()]
    p.write_text("\n".join(lines) + "\n")
    f = read_frame(p)
    assert not f.is_mesh and np.array_equal(f.points, CLOUD)


def test_npy_frame(tmp_path):
    np.save(tmp_path / "a.npy", CLOUD.astype(np.float32))
    np.save(tmp_path / "b.npy", np.hstack([CLOUD, CLOUD]))
    assert np.allclose(read_frame(tmp_path / "a.npy").points, CLOUD, atol=1e-6)
    assert np.array_equal(read_frame(tmp_path / "b.npy").points, CLOUD)


def test_array_sequences(tmp_path):
    seq = np.stack([CLOUD, CLOUD + 1, CLOUD * 2])
    np.save(tmp_path / "s.npy", seq)
    frames = read_array_sequence(tmp_path / "s.npy")
    assert [f.name for f in frames] == ["s.npy[0]", "s.npy[1]", "s.npy[2]"]
    assert np.array_equal(np.stack([f.points for f in frames]), seq)
    np.savez(tmp_path / "p.npz", points=seq)
    assert np.array_equal(read_array_sequence(tmp_path / "p.npz")[2].points, seq[2])
    vs = np.stack([VERTS, VERTS + 0.5])
    np.savez(tmp_path / "m.npz", vertices=vs, faces=FACES)
    frames = read_array_sequence(tmp_path / "m.npz")
    assert all(f.is_mesh and np.array_equal(f.faces, FACES) for f in frames)
    assert np.array_equal(frames[1].points, vs[1])


@pytest.mark.skipif(not CAT.is_dir(), reason="shared data not present")
def test_cat_obj_matches_trimesh():
    f = read_frame(CAT / "mesh.01.obj")
    assert f.points.shape == (1297, 3) and f.faces.shape == (2576, 3)
    m = trimesh.load(CAT / "mesh.01.obj", process=False, maintain_order=True, force="mesh")
    assert np.array_equal(f.points, m.vertices)  # file order
    canon = lambda fs: {tuple(np.roll(t, -int(np.argmin(t)))) for t in fs}  # noqa: E731
    assert canon(f.faces) == canon(m.faces)  # same oriented triangles as trimesh
    assert f.faces[0].tolist() == [73, 76, 75] and f.faces[1].tolist() == [73, 75, 74]  # fan


def test_cat_folder_ignores_notes():
    if not CAT.is_dir():
        pytest.skip("shared data not present")
    names = [p.name for p in list_frames(CAT)]
    assert names[0] == "mesh.01.obj" and names[-1] == "mesh.35.obj" and len(names) == 35


# ------------------------------------------------------------------------------- bad input

def _raises(path_or_fn, name):
    with pytest.raises(CatlasError) as e:
        path_or_fn()
    assert name in str(e.value) and "\n" not in str(e.value)
    return str(e.value)


def test_folder_errors(tmp_path):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    _raises(lambda: list_frames(empty), "emptydir")
    (empty / "readme.md").write_text("x")
    (empty / ".h.npy").write_bytes(b"")
    _raises(lambda: list_frames(empty), "emptydir")
    _raises(lambda: list_frames(tmp_path / "nope"), "nope")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    np.save(mixed / "a.npy", CLOUD)
    (mixed / "b.xyz").write_text("1 2 3\n")
    msg = _raises(lambda: list_frames(mixed), "mixed")
    assert ".npy" in msg and ".xyz" in msg
    same = tmp_path / "same"
    same.mkdir()
    (same / "a.xyz").write_text("1 2 3\n")
    (same / "b.txt").write_text("1 2 3\n")
    assert len(list_frames(same)) == 2


@pytest.mark.parametrize("name,content", [
    ("bad.ply", b"\x00\xffgarbage\x13\x37" * 20),
    ("bad.off", b"OFF\n3 1 0\n0 0\n"),
    ("bad.obj", b"v 1 2 x\n"),
    ("bin.obj", b"\xff\xfe\x00\x01" * 10),
    ("bad.npy", b"this is text, not an array"),
    ("bad.xyz", b"1 2 3\n4 5\n"),
    ("bad2.txt", b"1 2 three\n"),
    ("empty.xyz", b""),
    ("comments.xyz", b"# only a comment\n"),
    ("nan.xyz", b"1 2 3\nnan 0 0\n"),
    ("inf.obj", b"v 1 2 3\nv inf 0 0\n"),
])
def test_bad_files(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    _raises(lambda: read_frame(tmp_path / name), name)


def test_bad_arrays(tmp_path):
    cases = {
        "nan.npy": np.array([[0, 0, 0], [np.nan, 1, 1]]),
        "shape.npy": np.zeros((5, 2)),
        "flat.npy": np.zeros(9),
        "zero.npy": np.zeros((0, 3)),
        "str.npy": np.array([["a", "b", "c"]]),
    }
    for name, arr in cases.items():
        np.save(tmp_path / name, arr)
        _raises(lambda: read_frame(tmp_path / name), name)
    np.save(tmp_path / "one2d.npy", np.arange(12.0).reshape(4, 3))  # one (N, 3) frame
    one = read_array_sequence(tmp_path / "one2d.npy")
    assert len(one) == 1 and np.array_equal(one[0].points, np.arange(12.0).reshape(4, 3))
    np.save(tmp_path / "seq4d.npy", np.zeros((2, 4, 3, 1)))
    _raises(lambda: read_array_sequence(tmp_path / "seq4d.npy"), "seq4d.npy")
    np.savez(tmp_path / "keys.npz", foo=np.zeros((2, 4, 3)))
    _raises(lambda: read_array_sequence(tmp_path / "keys.npz"), "keys.npz")
    np.savez(tmp_path / "badfaces.npz", vertices=np.zeros((2, 4, 3)), faces=np.array([[0, 1, 9]]))
    _raises(lambda: read_array_sequence(tmp_path / "badfaces.npz"), "badfaces.npz[0]")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    _raises(lambda: read_array_sequence(tmp_path / "junk.npz"), "junk.npz")
    np.save(tmp_path / "inf.npy", np.full((2, 5, 3), np.inf))
    _raises(lambda: read_array_sequence(tmp_path / "inf.npy"), "inf.npy[0]")
