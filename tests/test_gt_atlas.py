"""The GT-atlas floor of the protocol: known answers, invariance to rigid motion, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from _eval_helpers import assert_one_line_error, cli, fitted_run_dir
from catlas.errors import CatlasError
from catlas.evaluate import EvalSettings, evaluate_gt_atlas, gt_atlas_points


def _sphere() -> tuple[np.ndarray, np.ndarray]:
    m = trimesh.creation.icosphere(subdivisions=1, radius=0.4)  # 42 vertices, 80 faces
    # jittered: the icosphere's symmetry makes many distances tie, and ties flip with rounding
    jitter = np.random.default_rng(0).normal(scale=0.01, size=m.vertices.shape)
    return np.asarray(m.vertices) + jitter, np.asarray(m.faces)


def test_points_follow_the_mesh():
    v, f = _sphere()
    gt = np.stack([v, 2.0 * v + [0.1, 0, 0]])
    y = gt_atlas_points(gt, f, 500, seed=3)
    assert y.shape == (2, 500, 3)
    # same barycentrics on both frames (float32 barycentrics sum to 1 within 1e-7)
    np.testing.assert_allclose(y[1], 2.0 * y[0] + [0.1, 0, 0], atol=1e-6)
    assert np.linalg.norm(y[0], axis=1).max() < 0.45  # on the surface, not beyond it
    assert (gt_atlas_points(gt, f, 500, seed=3) == y).all()


def test_dense_points_on_a_static_mesh_are_exact():
    v, f = _sphere()
    gt = np.repeat(v[None], 3, axis=0)
    res = evaluate_gt_atlas(gt, f, EvalSettings(pairs=12, n_points=40_000))
    c = res.summary["conventions"]["code"]
    assert c["msL2"]["mean"] == 0 and c["mr"]["mean"] == 0 and c["mAUC"]["mean"] == pytest.approx(100)
    assert res.summary["method"] == "gt-atlas" and np.isnan(res.per_pair["CD"]).all()


def test_one_point_on_one_triangle_known_answer():
    # a single point: every vertex of A goes to it, and it snaps to the corner nearest to it,
    # so the two other corners are wrong by their distance to that corner
    tri = np.array([[0.0, 0, 0], [0.01, 0, 0], [0, 0.02, 0]])
    gt = np.stack([tri, tri])
    y = gt_atlas_points(gt, np.array([[0, 1, 2]]), 1, seed=0)[0, 0]
    k = int(np.argmin(np.linalg.norm(tri - y, axis=1)))
    expected = np.linalg.norm(tri - tri[k], axis=1).mean()
    res = evaluate_gt_atlas(gt, np.array([[0, 1, 2]]), EvalSettings(pairs=4, n_points=1))
    np.testing.assert_allclose(res.per_pair["msL2_code"], expected)


def test_rigid_motion_does_not_change_the_floor():
    v, f = _sphere()
    rot = Rotation.from_rotvec([[0, 0, 0], [0.3, -0.2, 0.9], [-1.0, 0.4, 0.2]])
    moved = np.stack([r.apply(v) + t for r, t in zip(rot, ([0, 0, 0], [0.2, 0, 0.1], [0, -0.3, 0]))])
    still = np.repeat(v[None], 3, axis=0)
    s = EvalSettings(pairs=20, n_points=60)
    a, b = evaluate_gt_atlas(moved, f, s), evaluate_gt_atlas(still, f, s)
    assert b.per_pair["msL2_code"].mean() > 0  # 60 points on 42 vertices: the snaps do cost
    np.testing.assert_allclose(a.per_pair["msL2_code"], b.per_pair["msL2_code"], atol=1e-12)
    np.testing.assert_allclose(a.per_pair["mr"], b.per_pair["mr"], atol=1e-12)


def test_bad_input():
    v, f = _sphere()
    gt = np.stack([v, v])
    with pytest.raises(CatlasError, match="faces"):
        evaluate_gt_atlas(gt, f[:, :2])
    with pytest.raises(CatlasError, match="outside"):
        evaluate_gt_atlas(gt, f + 100)
    with pytest.raises(CatlasError, match="points"):
        evaluate_gt_atlas(gt, f, EvalSettings(n_points=0))
    with pytest.raises(CatlasError, match="at least 2 frames"):
        evaluate_gt_atlas(gt[:1], f)


def test_error_budget_benchmark_on_a_tiny_run(example_dir, tmp_path_factory):
    run = fitted_run_dir(example_dir, tmp_path_factory.getbasetemp())
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "error_budget.py"
    p = subprocess.run([sys.executable, str(script), str(run), "--pairs", "10", "--points", "500", "4000"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    floors = [float(ln.split("msL2")[1].split()[0]) for ln in lines if "gt-atlas" in ln]
    assert len(floors) == 2 and floors[1] < floors[0]  # denser points, lower floor
    assert any("self (A -> A) msL2" in ln for ln in lines)
    assert any("motion between neighbouring frames, fit/GT" in ln for ln in lines)
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines if ln.startswith("  ") and ln.split()}
    assert rows["|A"][:2] == ["-", "B|"] and {"msL2", "projection", "drift"} <= set(rows)
    per_frame = [ln.split(":")[1].split() for ln in lines if "drift from the middle frame" in ln]
    assert len(per_frame) == 1 and per_frame[0][len(per_frame[0]) // 2] == "0"  # no drift to itself


def _error_budget_module():
    """benchmarks/error_budget.py loaded as a module (it is a script, not part of the package)."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "error_budget.py"
    spec = importlib.util.spec_from_file_location("error_budget", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _GivenSamples:
    """The protocol's sampler, stubbed: frame k's samples given directly, (K, M, 3)."""

    def __init__(self, frames):
        self.frames = frames

    def pair(self, a, b):
        return self.frames[a], self.frames[b], None, None


def test_error_budget_step_motion_known_answers():
    """Samples that are the GT vertices move exactly as the material (fit/GT equal in every
    quartile); samples frozen at frame 0 do not move at all (fit 0)."""
    budget = _error_budget_module()
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 3))
    speed = np.linspace(0.0, 1.0, 40)[:, None] * np.array([1.0, 0.0, 0.0])  # vertex v moves v/39
    gt = np.stack([base + 0.01 * k * speed for k in range(5)])

    def parse(text):
        return [tuple(map(float, cell.split()[1].split("/"))) for cell in text.split("  ")]

    exact = parse(budget.step_motion(_GivenSamples(gt), gt))
    assert len(exact) == 4 and all(f == pytest.approx(t) for f, t in exact)
    assert exact[0][1] < exact[3][1]  # the quartiles order the vertices by motion
    frozen = parse(budget.step_motion(_GivenSamples(np.stack([gt[0]] * 5)), gt))
    assert all(f == 0.0 and t > 0 for f, t in frozen[1:])


def test_error_budget_drift_from_frame_known_answers():
    """Samples that are the GT vertices do not drift; samples that keep frame 0's positions while
    the material moves along x drift by exactly how far each vertex moved, snapped to GT."""
    budget = _error_budget_module()
    # a 1D row of vertices 1 apart along x, the whole row shifting by one vertex per frame
    base = np.stack([np.arange(20.0), np.zeros(20), np.zeros(20)], 1)
    gt = np.stack([base + [k, 0.0, 0.0] for k in range(4)])

    assert np.allclose(budget.drift_from_frame(_GivenSamples(gt), gt, 1), 0.0)
    # samples frozen in space: from frame 0 to frame k the sample of vertex v stands for vertex
    # v - k in frame k (clamped at the row's start), so the drift is k except near that end
    frozen = budget.drift_from_frame(_GivenSamples(np.stack([gt[0]] * 4)), gt, 0)
    expected = [np.mean([min(k, v) for v in range(20)]) for k in range(4)]
    assert frozen == pytest.approx(expected)
    # between neighbours: 0 for the GT itself; frozen samples slide one vertex per frame (all but
    # vertex 0, which has none behind it)
    assert np.allclose(budget.drift_between_neighbours(_GivenSamples(gt), gt), 0.0)
    step = budget.drift_between_neighbours(_GivenSamples(np.stack([gt[0]] * 4)), gt)
    assert step == pytest.approx([np.mean([min(1, v) for v in range(20)])] * 3)


def test_error_budget_snapshot_drift_reads_every_snapshot(example_dir, tmp_path):
    """--snapshots: one line per kept snapshot plus the final weights; the last snapshot and
    the final weights are the same model, so their lines agree; no drift from a frame to itself."""
    import catlas

    budget = _error_budget_module()
    out = tmp_path / "snap_run"
    catlas.fit(example_dir, out, preset="tiny", progress=False,
               overrides={"device": "cpu", "train": {"iterations": 20, "snapshot_every": 10}})
    lines = budget.snapshot_drift(out, n_points=200)
    assert [line.split(":")[0].strip() for line in lines] == ["step 10", "step 20", "final"]
    assert lines[1].split(":", 1)[1] == lines[2].split(":", 1)[1]
    drift = [float(v) for v in lines[2].rsplit(":", 1)[1].split()]
    mid = len(drift) // 2
    assert drift[mid] == 0.0 and len(drift) == catlas.load_run(out).n_frames


def test_compare_baseline_gt_atlas(example_dir, tmp_path_factory, tmp_path):
    from catlas.evaluate import load_gt, load_gt_faces
    from catlas.run import load_run

    run_dir = fitted_run_dir(example_dir, tmp_path_factory.getbasetemp())
    p = cli("compare", str(run_dir), "--baseline", "nearest", "gt-atlas")
    assert p.returncode == 0, p.stderr
    rows = {ln.split()[0]: ln.split() for ln in p.stdout.splitlines()[2:4]}
    run = load_run(run_dir)
    floor = evaluate_gt_atlas(load_gt(run), load_gt_faces(run)).summary["conventions"]["code"]
    assert float(rows["gt-atlas"][1]) == pytest.approx(floor["msL2"]["mean"], abs=1e-4)
    assert float(rows["gt-atlas"][1]) < float(rows["nearest"][1])
    assert "gt-atlas: the GT mesh as a perfect atlas, 3125 points" in p.stdout
    # GT given as point clouds (right frame and vertex counts) has no faces: a one-line error
    frames = tmp_path / "clouds"
    frames.mkdir()
    for k, v in enumerate(run.sequence.to_input_units(load_gt(run))):
        np.savetxt(frames / f"f{k}.xyz", v)
    assert_one_line_error(cli("compare", str(run_dir), "--baseline", "gt-atlas", "--gt", str(frames)),
                          "no mesh faces")
