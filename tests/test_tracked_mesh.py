"""One mesh through the sequence (catlas.tracked_mesh) and its quality figures
(catlas.evaluate.mesh_quality): known answers on small meshes, exact recovery of atlas points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import catlas
from _eval_helpers import fitted_run_dir
from catlas.evaluate import mesh_quality as mq
from catlas.geometry.uv import grid_faces, grid_uv
from catlas.tracked_mesh import atlas_coordinates, blend_weights, decode_coordinates, tracked_mesh


def _grid(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A flat n x n vertex grid in the z = 0 plane over [0, 1]^2, faces wound to +z."""
    uv = np.round(grid_uv(n).double().numpy() * (n - 1)) / (n - 1)  # exact float64 grid
    return np.concatenate([uv, np.zeros((len(uv), 1))], axis=1), grid_faces(n).numpy()


def _tetrahedron() -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


@pytest.fixture(scope="module")
def run(example_dir, tmp_path_factory):
    return catlas.load_run(fitted_run_dir(example_dir, tmp_path_factory.getbasetemp()))


def test_face_normals_and_areas_of_a_flat_grid():
    v, f = _grid(4)
    n, a = mq.face_normals(v, f)
    np.testing.assert_allclose(n, np.tile([0.0, 0, 1], (len(f), 1)), atol=1e-12)
    np.testing.assert_allclose(a, np.full(len(f), 0.5 / 9))
    n2, a2 = mq.face_normals(np.stack([v, 2 * v]), f)  # (K, V, 3) frames
    np.testing.assert_allclose(a2[1], 4 * a)


def test_face_adjacency_counts_interior_edges():
    v, f = _grid(4)  # 3 x 3 cells: 9 diagonals + 2 * 3 * 2 interior grid edges
    assert len(mq.face_adjacency(f)) == 9 + 12
    _, ft = _tetrahedron()
    assert len(mq.face_adjacency(ft)) == 6


def test_flipped_faces_counts_folds_not_motion():
    v, f = _grid(6)
    rigid = v @ np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]).T + [3.0, 1, 2]  # rotated, moved
    mirrored = v * [1, 1, -1]  # every face reversed: no fold against its neighbours
    assert mq.flipped_faces(np.stack([v, rigid, mirrored]), v, f).tolist() == [0.0, 0.0, 0.0]
    folded = v.copy()
    centre = np.flatnonzero((np.abs(v[:, 0] - 0.4) < 1e-9) & (np.abs(v[:, 1] - 0.4) < 1e-9))[0]
    folded[centre, :2] += [0.5, 0.5]  # pushed over its neighbours: some faces now face -z
    n, _ = mq.face_normals(folded, f)
    down = n[:, 2] < 0
    assert 0 < down.sum() < len(f) // 4
    assert mq.flipped_faces(folded[None], v, f)[0] == pytest.approx(down.mean())


def test_degenerate_faces_and_edge_distortion():
    v, f = _grid(4)
    squashed = v.copy()
    squashed[:, 1] *= 0.001  # every face to 0.1 % of its area
    assert mq.degenerate_faces(np.stack([v, squashed]), v, f).tolist() == [0.0, 1.0]
    assert mq.edge_distortion(np.stack([v, 2.0 * v + 1.0]), v, f) == pytest.approx([0.0, 1.0])
    assert len(mq.mesh_edges(f)) == 3 * 4 * 2 + 9  # grid edges + diagonals


def test_surface_distances_of_a_shifted_plane():
    v, f = _grid(11)
    cloud = np.concatenate([_grid(101)[0][:, :2], np.zeros((101 * 101, 1))], axis=1)
    cd0, h0 = mq.surface_distances(v, f, cloud, n_samples=20_000)
    assert cd0 < 1e-4 and h0 < 0.03  # sampling gaps only
    cd, h = mq.surface_distances(v + [0, 0, 0.05], f, cloud, n_samples=20_000)
    assert cd == pytest.approx(2 * 0.05**2, rel=0.05) and h == pytest.approx(0.05, abs=0.008)


def test_topology_of_closed_and_open_meshes():
    v, f = _tetrahedron()
    t = mq.topology(v, f)
    assert t["closed"] and t["watertight"] and t["edge_manifold"] and t["winding_consistent"]
    t = mq.topology(v, f[:3])
    assert not t["closed"] and not t["watertight"] and t["boundary_edges"] == 3
    fan = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]])  # edge 0-1 on three faces
    assert mq.topology(np.random.default_rng(0).normal(size=(5, 3)), fan)["non_manifold_edges"] == 1


def test_tracking_error_follows_the_nearest_gt_vertex():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 50, 3))
    ref = gt[1] + 1e-4  # the mesh's vertices sit on the GT vertices of frame 1
    np.testing.assert_allclose(mq.tracking_error(gt, ref, gt, 1), 0.0)
    shifted = gt + [0.0, 0.3, 0.4]
    np.testing.assert_allclose(mq.tracking_error(shifted, ref, gt, 1), 0.5)


def test_blend_weights_ramp_at_patch_borders():
    uv = np.array([[[0.5, 0.5], [0.0, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5], [0.99, 0.5]]])
    residual = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    w = blend_weights(uv, residual, np.array([True, True]), width=0.01, border=0.1)
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    np.testing.assert_allclose(w[:, 0], [0.5, 0.5])  # two patches alike
    np.testing.assert_allclose(w[:, 1], [0.0, 1.0])  # on patch 0's border
    np.testing.assert_allclose(w[:, 2], [1.0, 0.0])  # patch 1 far away
    w = blend_weights(uv, residual, np.array([False, True]), width=0.01, border=0.1)
    np.testing.assert_allclose(w[:, 2], [0.0, 1.0])  # a collapsed patch never counts


def test_atlas_coordinates_recover_points_on_the_atlas(run):
    """Points decoded from known (patch, uv) are found again: residual ~ 0, the same point."""
    P = run.n_patches
    rng = np.random.default_rng(1)
    uv_true = rng.uniform(0.15, 0.85, size=(P, 5, 2))
    with torch.inference_mode():
        pts, _ = run.model.decode(run.codes()[2:3], torch.as_tensor(uv_true, dtype=torch.float32))
    x = pts[0].double().numpy().reshape(-1, 3)
    coords = atlas_coordinates(run, 2, x)
    best = coords.residual.min(axis=0)
    assert best.max() < 1e-3 * np.ptp(x, axis=0).max()
    back = decode_coordinates(run, coords, frames=[2])[0]
    np.testing.assert_allclose(back, x, atol=1e-5)  # offsets carry the remaining residual


def test_tracked_mesh_keeps_the_input_mesh_and_its_faces(run):
    tm = tracked_mesh(run)
    seq = tm.sequence
    K = run.n_frames
    assert tm.frame == K // 2 and tm.source == "input mesh"
    assert seq.vertices.shape == (K, run.sequence.vertices.shape[1], 3)
    np.testing.assert_array_equal(seq.faces, run.sequence.faces)
    ref = run.sequence.to_input_units(run.sequence.vertices[tm.frame])
    np.testing.assert_allclose(seq.vertices[tm.frame], ref, atol=1e-4 * np.ptp(ref, axis=0).max())
    assert np.isfinite(seq.vertices).all() and not np.allclose(seq.vertices[0], seq.vertices[-1])
    assert seq.texcoords.shape == (seq.vertices.shape[1], 2) and (seq.texcoords >= 0).all()


def test_a_cloud_input_gets_a_mesh_through_its_points(run):
    """Without an input mesh the reference mesh is made from the frame's stored points: every
    vertex is one of them and the mesh lies on the cloud."""
    pytest.importorskip("pymeshlab")  # a test extra; catlas[mesh] for users
    from catlas.tracked_mesh import reference_mesh

    seq = run.sequence
    saved = seq.vertices, seq.faces
    try:
        seq.vertices = seq.faces = None
        v, f, source = reference_mesh(run, 3)
    finally:
        seq.vertices, seq.faces = saved
    assert source == "ball pivoting" and len(f) > len(v) // 2
    t = mq.topology(v, f)
    assert t["edge_manifold"]
    from scipy.spatial import cKDTree

    assert np.median(cKDTree(seq.points[3]).query(v)[0]) < 1e-6  # its vertices are cloud points
    cd, _ = mq.surface_distances(v, f, seq.points[3])
    cd_input, _ = mq.surface_distances(seq.vertices[3], seq.faces, seq.points[3])
    assert cd < 3 * cd_input


def test_the_tracked_mesh_exports_with_one_connectivity(run, tmp_path):
    """export --surface mesh: every format, the input mesh's faces in every frame (trimesh reads
    them back), frame k's vertices those of the tracked mesh, a GLB the Khronos validator passes."""
    import trimesh

    from _gltf import validate_glb, validator_env
    from catlas.export.sequence import export_run, read_pc2

    written = export_run(run, ["obj", "ply", "glb", "pc2"], out=tmp_path, surface="mesh")
    tm = tracked_mesh(run)
    K = run.n_frames
    assert len(written["obj"]) == K + 2 and len(written["ply"]) == K + 1
    for k in range(K):
        for fmt in ("obj", "ply"):
            m = trimesh.load(tmp_path / fmt / f"frame_{k:04d}.{fmt}", process=False, maintain_order=True)
            np.testing.assert_array_equal(m.faces, run.sequence.faces)
            np.testing.assert_allclose(m.vertices, tm.sequence.vertices[k], atol=2e-6)
    frames, _ = read_pc2(tmp_path / "pc2" / "sequence.pc2")
    np.testing.assert_allclose(frames, tm.sequence.vertices, atol=1e-5)
    header = (tmp_path / "obj" / "frame_0000.obj").read_text().splitlines()[1]
    assert f"input mesh of frame {tm.frame}" in header
    env = validator_env()
    if env is not None:
        issues = validate_glb(tmp_path / "glb" / "sequence.glb", env)
        assert issues["numErrors"] == 0, issues["messages"][:5]


def test_export_surface_mesh_from_the_cli(run, tmp_path):
    from catlas.cli import main

    assert main(["export", str(run.path), "--format", "obj", "--surface", "mesh", "--reference", "1",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert "input mesh of frame 1" in (tmp_path / "obj" / "frame_0000.obj").read_text()
    assert main(["export", str(run.path), "--format", "obj", "--surface", "mesh", "--reference", "99",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert not (tmp_path / "b").exists()


def test_eval_reports_the_tracked_mesh(run, tmp_path, capsys):
    """catlas eval scores the tracked mesh beside the protocol: metrics.json's tracked_mesh holds
    the figures, the printout names them; at the reference frame the mesh is the input mesh."""
    import json
    import shutil

    from catlas.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns(".catlas.lock", "eval"))
    assert main(["eval", str(copy), "--pairs", "10"]) == 0
    out = capsys.readouterr().out
    assert "tracked mesh: the input mesh of frame 3" in out and "vertex tracking error" in out
    rep = json.loads((copy / "eval" / "metrics.json").read_text())["tracked_mesh"]
    s, pf = rep["summary"], rep["per_frame"]
    assert rep["reference_frame"] == 3 and rep["reference_mesh"]["edge_manifold"]
    assert len(pf["tracking_error"]) == run.n_frames and pf["tracking_error"][3] < 1e-2  # x1e3
    assert pf["flipped_pct"][3] == 0.0 and pf["edge_distortion_pct"][3] < 1e-3
    assert len(pf["gt_flipped_pct"]) == run.n_frames and s["gt_flipped_pct_max"] == max(pf["gt_flipped_pct"])
    assert "(the GT's" in out.split("flipped faces max")[1].split("\n")[0]
    assert s["tracking_error"] == pytest.approx(np.mean(pf["tracking_error"]))
    assert 0 < s["chamfer"] and 0 < s["atlas_chamfer"]


def test_anchor_weights_trust_vertices_near_a_kept_patch():
    from catlas.tracked_mesh import AtlasCoordinates, anchor_weights

    residual = np.array([[0.0, 0.02, 0.5], [0.5, 0.5, 0.0]])  # (P=2, V=3)
    coords = AtlasCoordinates(uv=np.zeros((2, 3, 2)), residual=residual, weight=np.full((2, 3), 0.5),
                              offset=np.zeros((2, 3, 3)))
    np.testing.assert_allclose(anchor_weights(coords, np.array([True, True])), [1.0, np.exp(-1), 1.0])
    w = anchor_weights(coords, np.array([True, False]))  # patch 1 collapsed: vertex 2 is far
    np.testing.assert_allclose(w, [1.0, np.exp(-1), np.exp(-(0.5 / 0.02) ** 2)])


def test_eval_protocol_dynosurf_scores_both_surfaces(run, tmp_path, capsys):
    import json
    import shutil

    from catlas.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns(".catlas.lock", "eval"))
    assert main(["eval", str(copy), "--protocol", "dynosurf"]) == 0
    path = copy / "eval" / "dynosurf.json"
    report = json.loads(path.read_text())
    assert not (copy / "eval" / "metrics.json").exists()  # the paper's protocol did not run
    rows = report["surfaces"]
    assert len(rows) == 2 and any(name.startswith("mesh") for name in rows)
    for r in rows.values():
        assert 0 < r["chamfer_l2"] and 0 <= r["f_score"]["1%"] <= 1 and 0 < r["normal_consistency"] <= 1
        assert r["f_score"]["0.5%"] <= r["f_score"]["1%"] and len(r["per_frame_chamfer_l2"]) == run.n_frames
    before = path.read_bytes()
    capsys.readouterr()
    assert main(["eval", str(copy), "--protocol", "dynosurf"]) == 2
    assert "use --overwrite" in capsys.readouterr().err and path.read_bytes() == before


def test_render_surface_mesh_draws_the_tracked_mesh(run, tmp_path):
    from PIL import Image

    from catlas.cli import main

    assert main(["render", str(run.path), "--surface", "mesh", "--out", str(tmp_path), "--size", "64",
                 "--quiet"]) == 0
    frames = sorted((tmp_path / "surface").glob("frame_*.png"))
    assert len(frames) == run.n_frames
    img = np.asarray(Image.open(frames[0]))
    assert (img[..., :3] < 250).any(axis=-1).mean() > 0.05  # the mesh covers part of the picture
    assert main(["render", str(run.path), "--surface", "mesh", "--correspondences",
                 "--out", str(tmp_path / "c")]) == 2
