"""Sequence exports: OBJ/PLY per frame, animated GLB, PC2 point cache (catlas.export)."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
import trimesh

import catlas
from _eval_helpers import fitted_run_dir
from _gltf import validate_glb, validator_env
from catlas.cli import main
from catlas.errors import CatlasError
from catlas.export.gltf import DEFAULT_FPS, read_accessor
from catlas.export.mesh import vertex_normals
from catlas.export.sequence import export_run, mesh_sequence, read_pc2
from catlas.geometry.uv import grid_faces, grid_uv
from catlas.surface import SurfaceSamples, persistent_patches


@pytest.fixture(scope="module")
def run(example_dir, tmp_path_factory):
    """The session's shared tiny fit (read only: every export goes to a tmp folder)."""
    return catlas.load_run(fitted_run_dir(example_dir, tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    paths = export_run(run, ["obj", "ply", "glb", "pc2"], out=out, resolution=6)
    return out, paths


def _expected(run, r=6):
    """Per frame vertices straight from Run.mesh, minus the persistently collapsed patches."""
    keep = persistent_patches(run)
    meshes = [run.mesh(k, r) for k in range(run.n_frames)]
    mask = keep[meshes[0].patch]
    return np.stack([m.vertices[mask] for m in meshes]), mask


def test_obj_and_ply_frames_share_connectivity(run, exported):
    out, paths = exported
    K = run.n_frames
    assert [p.name for p in paths["obj"][:K]] == [f"frame_{k:04d}.obj" for k in range(K)]
    expected, _ = _expected(run)
    faces0 = None
    for k in range(K):
        obj = trimesh.load(out / "obj" / f"frame_{k:04d}.obj", process=False, maintain_order=True)
        ply = trimesh.load(out / "ply" / f"frame_{k:04d}.ply", process=False)
        faces0 = obj.faces if faces0 is None else faces0
        np.testing.assert_array_equal(obj.faces, faces0)
        np.testing.assert_array_equal(ply.faces, faces0)
        np.testing.assert_allclose(obj.vertices, expected[k], atol=2e-6)
        np.testing.assert_allclose(ply.vertices, expected[k], atol=2e-6)
        normals = vertex_normals(expected[k], faces0)
        np.testing.assert_allclose(obj.vertex_normals, normals, atol=2e-5)
        np.testing.assert_allclose(ply.vertex_normals, normals, atol=2e-5)
        uv = obj.visual.uv
        assert uv.shape == (len(expected[k]), 2) and uv.min() >= 0 and uv.max() <= 1
    assert faces0.max() == expected.shape[1] - 1
    text = (out / "obj" / "frame_0000.obj").read_text()
    assert "mtllib atlas.mtl" in text and "usemtl atlas_checker" in text
    assert "map_Kd atlas_checker.png" in (out / "obj" / "atlas.mtl").read_text()
    from PIL import Image

    img = np.asarray(Image.open(out / "obj" / "atlas_checker.png"))
    assert img.shape[:2] == (1024, 1024) and len(np.unique(img.reshape(-1, 3), axis=0)) >= 2 * run.n_patches
    assert "\nvn " in text and re.search(r"^f (\d+)/\1/\1 (\d+)/\2/\2 (\d+)/\3/\3$", text, re.M)


def test_ply_header_normals_and_texture(run, exported):
    out, paths = exported
    path = out / "ply" / "frame_0000.ply"
    raw = path.read_bytes()
    header = raw[:raw.index(b"end_header")].decode("ascii").splitlines()
    assert header[2] == "comment TextureFile atlas_checker.png"
    props = [line.split()[-1] for line in header if line.startswith("property ")]
    assert props[:8] == ["x", "y", "z", "nx", "ny", "nz", "s", "t"]
    assert (out / "ply" / "atlas_checker.png").read_bytes() == (out / "obj" / "atlas_checker.png").read_bytes()
    assert out / "ply" / "atlas_checker.png" in paths["ply"]
    ply = trimesh.load(path, process=False)
    expected, _ = _expected(run)
    assert len(ply.vertices) == expected.shape[1] and ply.faces.max() == expected.shape[1] - 1
    image = getattr(ply.visual.material, "image", None)  # trimesh resolves TextureFile beside the PLY
    assert image is not None and image.size == (1024, 1024)
    np.testing.assert_allclose(ply.visual.uv, mesh_sequence(run, 6).texcoords, atol=1e-6)


def test_vertex_normals_follow_the_winding_and_are_finite():
    # one patch of grid_faces, mapped to the xy plane by (u, v) -> (u, v, 0): f_u x f_v = +z
    R = 4
    uv = grid_uv(R).double().numpy()
    faces = grid_faces(R).numpy()
    flat = np.c_[uv, np.zeros(len(uv))]
    np.testing.assert_allclose(vertex_normals(flat, faces), np.tile([0.0, 0.0, 1.0], (R * R, 1)), atol=1e-12)
    np.testing.assert_allclose(vertex_normals(flat, faces[:, ::-1]), np.tile([0.0, 0.0, -1.0], (R * R, 1)),
                               atol=1e-12)
    # area weighting: a vertex shared by a big face (+z) and a small one (+x) leans to +z
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0.1], [0, -0.1, 0]], float)
    n = vertex_normals(v, np.array([[0, 1, 2], [0, 3, 4]]))
    assert n[0, 2] > 0.99 and 0 < n[0, 0] < 0.1
    # frames at once equal frame by frame; degenerate faces and unused vertices: unit, finite
    frames = np.stack([flat, flat * 2.0, np.zeros_like(flat)])
    extra = np.concatenate([frames, np.full((3, 1, 3), 5.0)], axis=1)  # one vertex in no face
    n = vertex_normals(extra, faces)
    assert n.shape == extra.shape and np.isfinite(n).all()
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-12)
    for k in range(3):
        np.testing.assert_array_equal(n[k], vertex_normals(extra[k], faces))
    np.testing.assert_allclose(n[2], np.tile([0.0, 0.0, 1.0], (R * R + 1, 1)))
    assert np.isfinite(vertex_normals(np.full((3, 3), np.nan), np.array([[0, 1, 2]]))).all()


def test_run_mesh_normals_point_along_f_u_cross_f_v(run):
    """The exported normals follow each patch's f_u x f_v (the winding of grid_faces)."""
    seq = mesh_sequence(run, 6)
    n = seq.normals()[0]
    x = seq.vertices[0]
    uv = seq.uv
    # finite differences along u and v inside each patch (vertex r * R + c: u = c / (R - 1))
    R = seq.resolution
    inner = np.flatnonzero((uv[:, 0] < 1) & (uv[:, 1] < 1))
    f_u = x[inner + 1] - x[inner]
    f_v = x[inner + R] - x[inner]
    cross = np.cross(f_u, f_v)
    good = np.linalg.norm(cross, axis=1) > 1e-9
    assert good.mean() > 0.9
    assert (np.einsum("ij,ij->i", cross[good], n[inner][good]) > 0).mean() > 0.95


def test_glb_structure_and_animation(run, exported):
    import pygltflib

    out, _ = exported
    path = out / "glb" / "sequence.glb"
    doc = pygltflib.GLTF2().load_binary(str(path))
    blob = doc.binary_blob()
    K = run.n_frames
    expected, _ = _expected(run)
    assert doc.buffers[0].byteLength == len(blob) and len(blob) % 4 == 0
    size = {pygltflib.FLOAT: 4, pygltflib.UNSIGNED_INT: 4}
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}
    for view in doc.bufferViews:
        assert view.byteOffset % 4 == 0 and view.byteOffset + view.byteLength <= len(blob)
    for acc in doc.accessors:
        view = doc.bufferViews[acc.bufferView]
        assert (acc.byteOffset or 0) % size[acc.componentType] == 0
        assert (acc.byteOffset or 0) + acc.count * size[acc.componentType] * width[acc.type] <= view.byteLength
    prim = doc.meshes[0].primitives[0]
    base = read_accessor(doc, prim.attributes.POSITION)
    normals = vertex_normals(expected, read_accessor(doc, prim.indices).reshape(-1, 3))
    base_n = read_accessor(doc, prim.attributes.NORMAL)
    np.testing.assert_allclose(base_n, normals[0], atol=1e-6)
    np.testing.assert_allclose(base, expected[0], atol=1e-5)
    faces = read_accessor(doc, prim.indices).reshape(-1, 3)
    assert faces.max() < len(base) and len(faces) > 0
    assert len(prim.targets) == K - 1
    for idx in [prim.attributes.POSITION] + [_target(t) for t in prim.targets]:
        data = read_accessor(doc, idx)
        acc = doc.accessors[idx]
        np.testing.assert_array_equal(np.float32(acc.min), data.min(axis=0))
        np.testing.assert_array_equal(np.float32(acc.max), data.max(axis=0))
    for k, t in enumerate(prim.targets, start=1):
        np.testing.assert_allclose(base + read_accessor(doc, _target(t)), expected[k], atol=1e-5)
        np.testing.assert_allclose(base_n + read_accessor(doc, _target(t, "NORMAL")), normals[k], atol=1e-6)
    uv = read_accessor(doc, prim.attributes.TEXCOORD_0)
    assert uv.shape == (len(base), 2) and 0 <= uv.min() and uv.max() <= 1
    anim = doc.animations[0]
    times = read_accessor(doc, anim.samplers[0].input)
    weights = read_accessor(doc, anim.samplers[0].output).reshape(K, K - 1)
    # sequence frame k at t = (k + 1) / fps: Blender's importer puts t on scene frame t * 24
    assert DEFAULT_FPS == 24.0 and anim.extras == {"fps": 24.0}
    np.testing.assert_allclose(times * 24.0, np.arange(1, K + 1), atol=1e-4)
    assert times.dtype == np.float32 and np.all(np.diff(times) > 0)
    assert doc.accessors[anim.samplers[0].input].min == [float(times[0])]
    np.testing.assert_array_equal(weights[0], 0)
    np.testing.assert_array_equal(weights[1:], np.eye(K - 1))
    assert anim.channels[0].target.path == "weights" and doc.images[0].mimeType == "image/png"
    assert trimesh.load(path).geometry  # loads in trimesh too


def _target(t, attribute: str = "POSITION") -> int:
    """A morph target's accessor (pygltflib loads targets as dicts)."""
    return t[attribute] if isinstance(t, dict) else getattr(t, attribute)


def test_glb_fps_is_recorded_and_printed(run, tmp_path, capsys):
    import pygltflib

    assert main(["export", str(run.path), "--format", "glb", "--resolution", "3", "--fps", "12.5",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert "animation at 12.5 fps" in capsys.readouterr().out
    doc = pygltflib.GLTF2().load_binary(str(tmp_path / "glb" / "sequence.glb"))
    anim = doc.animations[0]
    assert anim.extras == {"fps": 12.5}
    times = read_accessor(doc, anim.samplers[0].input)
    np.testing.assert_allclose(times, (np.arange(run.n_frames) + 1) / 12.5, rtol=1e-6)


def test_glb_passes_khronos_validator(exported):
    env = validator_env()
    if env is None:
        pytest.skip("node or the npm package gltf-validator is absent (npm install -g gltf-validator)")
    issues = validate_glb(exported[0] / "glb" / "sequence.glb", env)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:5]


def test_pc2_header_and_frames(run, exported):
    out, _ = exported
    raw = (out / "pc2" / "sequence.pc2").read_bytes()
    magic, version, n_points, start, rate, n_samples = struct.unpack_from("<12siiffi", raw)
    expected, _ = _expected(run)
    assert magic == b"POINTCACHE2\0" and version == 1
    assert n_samples == run.n_frames and n_points == expected.shape[1]
    assert len(raw) == 32 + n_samples * n_points * 12
    frames, header = read_pc2(out / "pc2" / "sequence.pc2")
    assert header["samples"] == run.n_frames
    # sample k belongs to frame start + k * rate: sequence frame 0 on Blender's first frame, 1
    frame_of = header["start_frame"] + np.arange(run.n_frames) * header["sample_rate"]
    np.testing.assert_array_equal(frame_of, np.arange(1, run.n_frames + 1))
    np.testing.assert_allclose(frames, expected, atol=1e-5)
    obj = trimesh.load(out / "pc2" / "sequence.obj", process=False, maintain_order=True)
    np.testing.assert_allclose(obj.vertices, frames[0], atol=2e-6)
    np.testing.assert_allclose(obj.vertex_normals, vertex_normals(expected[0], obj.faces), atol=2e-5)


def test_drops_only_patches_collapsed_in_every_frame(run, monkeypatch):
    P = run.n_patches
    pattern = np.zeros((run.n_frames, P), bool)
    pattern[:, 0] = True  # collapsed everywhere -> dropped
    pattern[::2, 1] = True  # collapsed in some frames only -> kept
    monkeypatch.setattr(SurfaceSamples, "prepare", lambda self, frames=None: None)
    monkeypatch.setattr(SurfaceSamples, "collapsed", lambda self, k: pattern[k])
    seq = mesh_sequence(run, resolution=4)
    assert seq.kept.tolist() == [False] + [True] * (P - 1)
    assert seq.vertices.shape == (run.n_frames, (P - 1) * 16, 3)
    assert len(seq.faces) == (P - 1) * 2 * 9 and seq.faces.min() == 0
    assert seq.faces.max() == (P - 1) * 16 - 1 and 0 not in seq.patch
    np.testing.assert_allclose(seq.vertices[2], run.mesh(2, 4).vertices[16:], atol=1e-6)
    pattern[:] = True  # everything collapsed -> keep all
    assert mesh_sequence(run, resolution=4).kept.all()


def test_refuses_to_overwrite(run, tmp_path, capsys):
    out = tmp_path / "mine"
    assert main(["export", str(run.path), "--format", "obj", "--resolution", "4", "--out", str(out),
                 "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["obj"]  # DIR/FORMAT for one format too
    before = (out / "obj" / "frame_0000.obj").stat().st_mtime_ns
    assert main(["export", str(run.path), "--format", "obj", "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "obj" / "frame_0000.obj").stat().st_mtime_ns == before
    with pytest.raises(CatlasError):
        export_run(run, ["obj"], out=out)
    # several formats, one of them taken: nothing written, not even the free one
    assert main(["export", str(run.path), "--format", "glb", "obj", "--out", str(out), "--quiet"]) == 2
    assert not (out / "glb").exists()
    assert main(["export", str(run.path), "--format", "obj", "glb", "--resolution", "4",
                 "--out", str(tmp_path / "both"), "--overwrite", "--quiet"]) == 0
    assert (tmp_path / "both" / "glb" / "sequence.glb").exists()
    assert (tmp_path / "both" / "obj" / "frame_0005.obj").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_fit_meshes_are_the_obj_export(run, tmp_path):
    """The fit's meshes/ is byte for byte ``catlas export RUN --format obj`` (one code path)."""
    assert main(["export", str(run.path), "--format", "obj", "--out", str(tmp_path)]) == 0
    out = tmp_path / "obj"
    fit_files = sorted(p.name for p in (run.path / "meshes").iterdir())
    assert fit_files == sorted(p.name for p in out.iterdir())
    assert {"atlas.mtl", "atlas_checker.png", "frame_0000.obj"} <= set(fit_files)
    for name in fit_files:
        assert (run.path / "meshes" / name).read_bytes() == (out / name).read_bytes(), name


def _exported_frames(out, fmt: str, K: int) -> np.ndarray:
    """(K, V, 3) vertices of every frame as an export of ``fmt`` in ``out`` holds them."""
    if fmt in ("obj", "ply"):
        return np.stack([trimesh.load(out / fmt / f"frame_{k:04d}.{fmt}", process=False,
                                      maintain_order=True).vertices for k in range(K)])
    if fmt == "pc2":
        return read_pc2(out / "pc2" / "sequence.pc2")[0]
    import pygltflib

    doc = pygltflib.GLTF2().load_binary(str(out / "glb" / "sequence.glb"))
    prim = doc.meshes[0].primitives[0]
    base = read_accessor(doc, prim.attributes.POSITION)
    return np.stack([base] + [base + read_accessor(doc, _target(t)) for t in prim.targets])


def test_center_frames_exports_put_each_frame_back_at_its_input_position(tmp_path_factory, tmp_path):
    """data.center_frames: the fit on a creature moved by a different vector per frame is the fit
    on the creature in place (same normalised data), and every export format, the fit's meshes/
    and the tracked mesh put frame k back where the input's frame k was: the in-place run's
    frame moved by exactly that frame's shift."""
    from _eval_helpers import centred_runs

    c = centred_runs(tmp_path_factory.getbasetemp())
    still, moving, shifts = catlas.load_run(c["still"]), catlas.load_run(c["moving"]), c["shifts"]
    K = moving.n_frames
    assert moving.config.data.center_frames and moving.sequence.frame_centers.shape == (K, 3)
    formats = ["obj", "ply", "glb", "pc2"]
    export_run(still, formats, out=tmp_path / "still", resolution=6)
    export_run(moving, formats, out=tmp_path / "moving", resolution=6)
    inputs = np.stack([trimesh.load(c["moving_frames"] / f"f{k}.obj", process=False,
                                    maintain_order=True).vertices for k in range(K)])
    for fmt in formats:
        a = _exported_frames(tmp_path / "still", fmt, K)
        b = _exported_frames(tmp_path / "moving", fmt, K)
        np.testing.assert_allclose(b, a + shifts[:, None], atol=1e-4, err_msg=fmt)
        # each frame's surface around its own input frame's centroid (a 20-step fit: loosely)
        gap = np.linalg.norm(b.mean(axis=1) - inputs.mean(axis=1), axis=1)
        assert (gap < 0.25 * moving.sequence.scale).all(), (fmt, gap)
    # the fit's meshes/ (the OBJ export) and the normalised decode moved back by hand
    fit_meshes = tmp_path / "fit"
    (fit_meshes / "obj").mkdir(parents=True)
    for p in (c["moving"] / "meshes").glob("frame_*.obj"):
        (fit_meshes / "obj" / p.name).write_bytes(p.read_bytes())
    np.testing.assert_allclose(_exported_frames(fit_meshes, "obj", K),
                               mesh_sequence(still).vertices + shifts[:, None], atol=1e-4)
    seq = moving.sequence
    for k in (0, 3):
        norm = moving.mesh(k, input_units=False).vertices.astype(np.float64)
        np.testing.assert_array_equal(moving.mesh(k).vertices, norm * seq.scale + seq.frame_centers[k])
    # the tracked mesh (export --surface mesh): frame r is the input mesh of frame r, in place
    export_run(still, ["obj"], out=tmp_path / "still_mesh", surface="mesh")
    export_run(moving, ["obj"], out=tmp_path / "moving_mesh", surface="mesh")
    a, b = (_exported_frames(tmp_path / f"{name}_mesh", "obj", K) for name in ("still", "moving"))
    np.testing.assert_allclose(b, a + shifts[:, None], atol=1e-4)
    r = K // 2
    np.testing.assert_allclose(b[r], inputs[r], atol=1e-4)


def test_a_run_written_before_center_frames_loads_and_exports_as_before(run, tmp_path):
    """A run folder whose config.yaml lacks data.center_frames and whose sequence.npz has no
    frame_centers (every run before the setting) loads with one centre, and its export is byte for
    byte the export of the same run (input units = normalised x scale + that centre)."""
    import shutil

    import yaml

    old = tmp_path / "old_run"
    shutil.copytree(run.path, old, ignore=shutil.ignore_patterns("export", ".catlas.lock"))
    d = yaml.safe_load((old / "config.yaml").read_text())
    del d["data"]["center_frames"]
    (old / "config.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    assert "frame_centers" not in np.load(old / "sequence.npz").files
    back = catlas.load_run(old)
    assert back.config.data.center_frames is False and back.sequence.frame_centers is None
    ms = mesh_sequence(back, resolution=6)
    seq = back.sequence
    by_hand = np.stack([back.mesh(k, 6, input_units=False).vertices.astype(np.float64) * seq.scale
                        + seq.center for k in range(back.n_frames)])
    np.testing.assert_array_equal(ms.vertices, by_hand[:, persistent_patches(back)[back.mesh(0, 6).patch]])
    formats = ["obj", "ply", "glb", "pc2"]
    export_run(run, formats, out=tmp_path / "new", resolution=6)
    export_run(back, formats, out=tmp_path / "old", resolution=6)
    for p in sorted((tmp_path / "new").rglob("*")):
        if p.is_file():
            q = tmp_path / "old" / p.relative_to(tmp_path / "new")
            assert p.read_bytes() == q.read_bytes(), p.name
