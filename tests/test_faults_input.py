"""Bad input files: one line ``catlas: error: ...`` naming the file as given and the problem, exit
code 2, no traceback, nothing written (no run folder) and nothing changed; valid files of every
reader still read. Also ``catlas example``'s frame count and ``--force``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from catlas.data import read_array_sequence, read_frame, write_example
from catlas.data.sequence import Sequence
from catlas.errors import CatlasError

from _faults import assert_one_line_error, run_cli, tree

TINY = ("--preset", "tiny", "--quiet")
MESH = trimesh.creation.icosphere(subdivisions=1)  # 42 vertices, 80 triangles
CLOUD = np.random.default_rng(0).normal(size=(60, 3))


def _ply(encoding: str = "binary") -> bytes:
    return trimesh.exchange.ply.export_ply(MESH, encoding=encoding)


def _off() -> str:
    lines = ["OFF", f"{len(MESH.vertices)} {len(MESH.faces)} 0"]
    lines += [f"{x!r} {y!r} {z!r}" for x, y, z in MESH.vertices.tolist()]
    lines += [f"3 {a} {b} {c}" for a, b, c in MESH.faces.tolist()]
    return "\n".join(lines) + "\n"


def _npy_header(shape: tuple, descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _drop_line(text: str, k: int) -> str:
    """``text`` without its k-th line."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[:k] + lines[k + 1:])


def _ascii_ply_fewer() -> bytes:
    text = _ply("ascii").decode()
    first = text.index("end_header\n") + len("end_header\n")
    body_line = text[:first].count("\n")
    return _drop_line(text, body_line + 3).encode()  # one vertex line fewer than declared


def _npz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _xyz(points) -> str:
    return "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in np.asarray(points).tolist())


# (case id, file name, content, words the error line must hold besides the file)
FRAME_CASES = [
    ("ply-ascii-fewer-vertex-lines", "f.ply", _ascii_ply_fewer(),
     ["declares 42 vertices + 80 faces", "body has 121"]),
    ("ply-ascii-extra-lines", "f.ply", _ply("ascii") + b"0 0 0\n", ["declares", "body has 123"]),
    ("ply-ascii-short-face-row", "f.ply", _ply("ascii").rstrip(b"\n").rsplit(b" ", 1)[0] + b"\n",
     ["face row 79 declares 3 values", "holds 2"]),
    ("ply-binary-truncated", "f.ply", _ply()[:-7], ["declares 80 face rows", "truncated"]),
    ("ply-binary-trailing-bytes", "f.ply", _ply() + b"\0\0\0\0\0", ["5 trailing bytes"]),
    ("ply-binary-huge-count", "f.ply", _ply().replace(b"vertex 42\n", b"vertex 1000000000000\n"),
     ["declares 1,000,000,000,000 vertices", "only"]),
    ("ply-big-endian-as-little", "f.ply",
     _ply().replace(b"binary_little_endian", b"binary_big_endian"), ["face indices out of range"]),
    ("off-fewer-vertex-lines", "f.off", _drop_line(_off(), 5).encode(),
     ["declares 42 vertices and 80 faces", "body has 121"]),
    ("off-huge-count", "f.off",
     _off().replace("\n42 80 0\n", "\n1000000000000 80 0\n").encode(),
     ["declares 1,000,000,000,000 vertices", "body has 122"]),
    ("npy-frame-huge-header", "f.npy", _npy_header((10**12, 3)) + b"\0" * 480,
     ["(1000000000000, 3)", "declares", "480 bytes"]),
    ("npy-frame-trailing-data", "f.npy", _npy_header((20, 3)) + b"\0" * 500,
     ["declares shape (20, 3)", "480 bytes", "500 bytes"]),
    ("xyz-coordinate-1e300", "f.xyz", _xyz(np.vstack([CLOUD, [[1e300, 0, 0]]])).encode(),
     ["coordinate 1e+300", "float32"]),
    ("obj-coordinate-minus-1e39", "f.obj", ("v 0 0 0\nv 1 1 1\nv -1e39 0 0\n" * 10).encode(),
     ["coordinate -1e+39", "float32"]),
    ("all-points-identical", "f.xyz", ("1.5 2 3\n" * 50).encode(), ["coincide"]),
]


@pytest.mark.parametrize("name,content,needles", [c[1:] for c in FRAME_CASES],
                         ids=[c[0] for c in FRAME_CASES])
def test_bad_frame_file(tmp_path, name, content, needles):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / name).write_bytes(content)
    _fit_fails(tmp_path, folder, str(folder / name), *needles)


def test_path_named_as_given(tmp_path):
    """A relative INPUT: the message names the file relative to it, as the user would."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.ply").write_bytes(_ascii_ply_fewer())
    line = _fit_fails(tmp_path, "data", "data/f.ply: ", "declares", cwd=tmp_path)
    assert str(tmp_path) not in line


def test_frame_far_from_frame0_overflows_float32(tmp_path):
    """Frame 0 spans 1e-30, frame 1 sits at 1e10: normalised by frame 0 it would be inf in float32."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.xyz").write_text(_xyz(CLOUD * 1e-30))
    (folder / "b.xyz").write_text(_xyz(CLOUD + 1e10))
    _fit_fails(tmp_path, folder, str(folder / "b.xyz"), "outside float32 range", str(folder / "a.xyz"))


SEQUENCE_CASES = [
    ("npy-sequence-huge-header", "s.npy", _npy_header((10**6, 10**6, 3)) + b"\0" * 720,
     ["declares shape (1000000, 1000000, 3)", "720 bytes"]),
    ("npy-sequence-huge-float32", "s.npy", _npy_header((4, 10**12, 3), "<f4") + b"\0" * 48,
     ["declares", "float32"]),
    ("npz-member-huge-header", "s.npz",
     _npz({"points.npy": _npy_header((10**9, 10**3, 3)) + b"\0" * 960}),
     ["'points'", "declares shape (1000000000, 1000, 3)"]),
    ("npz-faces-huge-header", "s.npz",
     _npz({"vertices.npy": _npy_header((2, 4, 3)) + b"\0" * 192,
           "faces.npy": _npy_header((10**12, 3), "<i8") + b"\0" * 24}),
     ["'faces'", "declares"]),
    ("npz-member-truncated", "s.npz", _npz({"points.npy": _npy_header((2, 40, 3)) + b"\0" * 100}),
     ["'points'", "1,920 bytes", "100 bytes"]),
    ("npy-sequence-coordinate-1e300", "s.npy",
     _npy_header((2, 30, 3)) + np.vstack([np.ones((59, 3)), [[0, 1e300, 0]]]).tobytes(),
     ["s.npy[1]", "coordinate 1e+300", "float32"]),
]


@pytest.mark.parametrize("name,content,needles", [c[1:] for c in SEQUENCE_CASES],
                         ids=[c[0] for c in SEQUENCE_CASES])
def test_bad_sequence_file(tmp_path, name, content, needles):
    path = tmp_path / name
    path.write_bytes(content)
    _fit_fails(tmp_path, path, str(path), *needles)


def test_run_folder_sequence_checked_before_reading(tmp_path):
    path = tmp_path / "sequence.npz"
    path.write_bytes(_npz({"points.npy": _npy_header((10**12, 400, 3), "<f4") + b"\0" * 16,
                           "names.npy": _npy_header((1,), "<U3") + b"\0" * 12}))
    with pytest.raises(CatlasError, match="declares shape") as e:
        Sequence.load_npz(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def _fit_fails(tmp_path: Path, input_path, *needles: str, cwd=None) -> str:
    out = tmp_path / "run"
    before = tree(tmp_path)
    code, _, err = run_cli("fit", input_path, "--out", out, *TINY, cwd=cwd)
    line = assert_one_line_error(code, err, *needles)
    assert tree(tmp_path) == before
    assert not out.exists()
    return line


# ------------------------------------------------------------------------ valid files still read

def test_valid_ascii_ply_reads(tmp_path):
    p = tmp_path / "a.ply"
    p.write_bytes(_ply("ascii").replace(b"\n", b"\r\n") + b"\r\n\r\n")  # CRLF, blank lines at the end
    f = read_frame(p)
    assert np.allclose(f.points, MESH.vertices, atol=1e-7) and np.array_equal(f.faces, MESH.faces)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_valid_binary_ply_reads(tmp_path, endian):
    import struct

    verts = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0.5, 1.5, 0), (0, 1, 0), (2, 2, 2)]
    polys = [[0, 1, 2], [0, 1, 2, 3, 4], [2, 3, 5], [0, 1, 2, 3]]  # mixed polygons: walked rows
    fmt = "binary_little_endian" if endian == "<" else "binary_big_endian"
    head = (f"ply\nformat {fmt} 1.0\ncomment x\nelement vertex {len(verts)}\nproperty double x\n"
            "property float y\nproperty float z\nproperty uchar red\n"
            f"element face {len(polys)}\nproperty list uchar int vertex_indices\n"
            "property float quality\nelement note 1\nproperty list int char text\nend_header\n")
    body = b"".join(struct.pack(endian + "dffB", *v, 9) for v in verts)
    body += b"".join(struct.pack(f"{endian}B{len(q)}if", len(q), *q, 0.5) for q in polys)
    body += struct.pack(endian + "i3b", 3, 1, 2, 3)
    p = tmp_path / "b.ply"
    p.write_bytes(head.encode() + body)
    f = read_frame(p)
    assert np.allclose(f.points, verts)
    assert f.faces.tolist() == [[0, 1, 2], [0, 1, 2], [0, 2, 3], [0, 3, 4], [2, 3, 5], [0, 1, 2], [0, 2, 3]]
    p.write_bytes(_ply())  # trimesh's own layout (read at once)
    assert np.allclose(read_frame(p).points, MESH.vertices, atol=1e-6)
    assert np.array_equal(read_frame(p).faces, MESH.faces)


def test_valid_off_reads(tmp_path):
    p = tmp_path / "a.off"
    p.write_text("OFF 5 2 0\n# comment\n0 0 0\n1 0 0\n\n1 1 0  # trailing comment\n.5 1.5 0\n0 1 0\n"
                 "4 0 1 2 3 255 0 0\n3 2 3 4\n")
    f = read_frame(p)
    assert f.points.shape == (5, 3) and f.faces.tolist() == [[0, 1, 2], [0, 2, 3], [2, 3, 4]]
    p.write_text(_off())
    assert np.array_equal(read_frame(p).points, MESH.vertices)


def test_valid_npy_and_npz_read(tmp_path):
    np.save(tmp_path / "a.npy", CLOUD.astype(np.float32))
    assert np.allclose(read_frame(tmp_path / "a.npy").points, CLOUD, atol=1e-6)
    seq = np.stack([CLOUD, CLOUD + 1])
    np.save(tmp_path / "s.npy", seq)
    assert np.array_equal(read_array_sequence(tmp_path / "s.npy")[1].points, seq[1])
    np.savez_compressed(tmp_path / "s.npz", points=seq, extra=np.zeros(10**6))  # compresses well
    assert np.array_equal(read_array_sequence(tmp_path / "s.npz")[0].points, seq[0])


@pytest.mark.parametrize("fmt", ["ply", "off"])
def test_example_formats_read_back(tmp_path, fmt):
    paths = write_example(tmp_path / "ex", n_frames=2, fmt=fmt, kind="sheet")
    f = read_frame(paths[1])
    assert f.points.shape == (1025, 3) and f.faces.shape == (1920, 3)


# ------------------------------------------------------------------------ catlas example

@pytest.mark.parametrize("frames", ["0", "-3", str(10**7)])
def test_example_frame_count(tmp_path, frames):
    out = tmp_path / "ex"
    code, _, err = run_cli("example", out, "--frames", frames)
    # (the CLI may check --frames itself before write_example does; either message will do)
    assert_one_line_error(code, err, "frames", "10000", f"got {frames}")
    assert tree(tmp_path) == {}


def test_example_force_keeps_user_files(tmp_path):
    out = tmp_path / "ex"
    out.mkdir()
    (out / "frame_000.obj").write_text("v 0 0 0\n# my own scan\n")
    before = tree(tmp_path)
    code, _, err = run_cli("example", out, "--force")
    assert_one_line_error(code, err, str(out), "holds files catlas did not write: frame_000.obj")
    assert tree(tmp_path) == before


def test_example_force_refuses_a_changed_or_foreign_file(tmp_path):
    out = tmp_path / "ex"
    assert run_cli("example", out, "--frames", "3", "--kind", "sheet")[0] == 0
    with open(out / "frame_001.obj", "a") as fh:
        fh.write("v 9 9 9\n")  # edited after catlas wrote it
    (out / "notes.md").write_text("mine")
    (out / "sub").mkdir()
    before = tree(tmp_path)
    code, _, err = run_cli("example", out, "--force")
    assert_one_line_error(code, err, str(out), "frame_001.obj, notes.md, sub")
    assert tree(tmp_path) == before


def test_example_force_replaces_its_own_files(tmp_path):
    out = tmp_path / "ex"
    assert run_cli("example", out, "--frames", "4", "--kind", "sheet")[0] == 0
    (out / ".keep").write_text("hidden: left alone")
    first = tree(out)
    code, _, err = run_cli("example", out, "--frames", "2", "--force")
    assert code == 0, err
    after = tree(out)
    assert sorted(after) == [".keep", "frame_000.obj", "frame_001.obj"]
    assert after["frame_000.obj"] != first["frame_000.obj"]  # the creature replaced the sheet
    assert run_cli("example", out, "--frames", "2", "--force")[0] == 0  # and again
    assert tree(out) == after


def test_example_refusal_through_api(tmp_path):
    with pytest.raises(CatlasError, match="between 1 and 10000") as e:
        write_example(tmp_path / "x", n_frames=10_001)
    assert str(tmp_path / "x") in str(e.value)
    with pytest.raises(CatlasError, match="between 1 and 10000"):
        write_example(tmp_path / "x", n_frames=2.5)
    assert not (tmp_path / "x").exists()
    assert len(write_example(tmp_path / "one", n_frames=1)) == 1
