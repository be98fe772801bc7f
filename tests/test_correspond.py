"""Correspondences through the atlas: the nearest-sample map, Run.correspond, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _eval_helpers import assert_one_line_error, cli, fitted_run_dir
from catlas.data import points_from_provenance
from catlas.run import load_run
from catlas.surface import map_to_frame


@pytest.fixture
def run_dir(example_dir, tmp_path_factory) -> Path:
    return fitted_run_dir(example_dir, tmp_path_factory.getbasetemp())


def test_map_to_frame_follows_the_samples():
    rng = np.random.default_rng(0)
    samples_i = rng.random((500, 3))
    perm = rng.permutation(500)
    samples_j = samples_i + np.array([5.0, 0, 0])
    target = samples_j[perm]  # target row t holds samples_j[perm[t]]
    query = samples_i[:40] + 1e-4
    t, s = map_to_frame(query, samples_i, samples_j, target)
    assert s.tolist() == list(range(40))
    assert (perm[t] == np.arange(40)).all()
    # known nearest samples skip the first lookup; a cKDTree target gives the same answer
    from scipy.spatial import cKDTree

    t2, s2 = map_to_frame(np.zeros((40, 3)), samples_i, samples_j, cKDTree(target), sample=s)
    assert s2 is s and t2.tolist() == t.tolist() and t2.dtype == np.int64


def test_run_correspond_shapes_units_and_quality(run_dir):
    run = load_run(run_dir)
    seq = run.sequence
    i, j = 0, 3
    c = run.correspond(i, j)
    S = seq.n_stored
    assert c.indices.shape == (S,) and c.points.shape == (S, 3) and c.surface.shape == (S, 3)
    assert c.patch.shape == (S,) and c.uv.shape == (S, 2) and (0 <= c.uv).all() and (c.uv <= 1).all()
    np.testing.assert_allclose(c.points, seq.to_input_units(seq.points[j][c.indices]))
    np.testing.assert_allclose(c.source, seq.to_input_units(seq.points[i]), rtol=1e-6)
    # explicit points in input units give the same map
    some = seq.to_input_units(seq.points[i][:25])
    c2 = run.correspond(i, j, some)
    assert (c2.indices == c.indices[:25]).all()
    # GT: each stored point of frame i re-placed on frame j by its (face, barycentric) provenance
    gt_j = points_from_provenance(seq.vertices[j], seq.faces, seq.sample_faces[i], seq.sample_bary[i])
    err = np.linalg.norm(seq.points[j][c.indices] - gt_j, axis=1).mean()
    rand = np.linalg.norm(seq.points[j][np.random.default_rng(0).integers(0, S, S)] - gt_j, axis=1).mean()
    assert err < 0.7 * rand, (err, rand)  # measured about 0.4 x after the 40-iteration tiny fit


def test_correspond_rejects_bad_frames_and_points(run_dir):
    from catlas.errors import CatlasError

    run = load_run(run_dir)
    with pytest.raises(CatlasError, match="out of range"):
        run.correspond(0, run.n_frames)
    with pytest.raises(CatlasError, match="shape"):
        run.correspond(0, 1, np.zeros((4, 2)))


def test_cli_correspond(run_dir, tmp_path):
    q = tmp_path / "q.xyz"
    pts = load_run(run_dir).sequence.to_input_units(load_run(run_dir).sequence.points[1][:30])
    np.savetxt(q, pts)
    out = tmp_path / "c.npz"
    p = cli("correspond", str(run_dir), "--from", "1", "--to", "4", "--points", str(q), "--out", str(out))
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        assert z["indices"].shape == (30,) and z["points"].shape == (30, 3)
        ref = load_run(run_dir).correspond(1, 4, pts)
        assert (z["indices"] == ref.indices).all()
    p = cli("correspond", str(run_dir), "--from", "0", "--to", "1", "--out", str(tmp_path / "c.csv"))
    assert p.returncode == 0, p.stderr
    lines = (tmp_path / "c.csv").read_text().strip().splitlines()
    assert lines[0].startswith("src_x,src_y,src_z,target_index,x,y,z")
    assert len(lines) == 1 + load_run(run_dir).sequence.n_stored


def test_cli_correspond_bad_input(run_dir, tmp_path, capsys):
    from catlas.cli import main

    assert_one_line_error(cli("correspond", str(run_dir), "--from", "0", "--to", "99",
                              "--out", str(tmp_path / "c.npz")), "frame 99 out of range")
    assert_one_line_error(cli("correspond", str(tmp_path / "nope"), "--from", "0", "--to", "1",
                              "--out", str(tmp_path / "c.npz")), "no such run folder")
    code = main(["correspond", str(run_dir), "--from", "0", "--to", "1", "--out", str(tmp_path / "c.txt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and ".npz or .csv" in err[0]
    assert not (tmp_path / "c.npz").exists()


def test_correspondences_of_a_centred_run_are_in_each_frames_input_units(tmp_path_factory, tmp_path):
    """data.center_frames: query points are read, and sources, matches and surface points are
    written, in the input units of their own frame (i for the query, j for the match); the map
    itself is the in-place run's (same normalised fit)."""
    from _eval_helpers import centred_runs

    c = centred_runs(tmp_path_factory.getbasetemp())
    still, moving, shifts = load_run(c["still"]), load_run(c["moving"]), c["shifts"]
    i, j = 1, 4
    a, b = still.correspond(i, j), moving.correspond(i, j)
    np.testing.assert_array_equal(b.indices, a.indices)
    np.testing.assert_allclose(b.source, a.source + shifts[i], atol=1e-5)
    np.testing.assert_allclose(b.points, a.points + shifts[j], atol=1e-5)
    np.testing.assert_allclose(b.surface, a.surface + shifts[j], atol=1e-5)
    # explicit query points in frame i's input units give the same map
    assert (moving.correspond(i, j, b.source[:25]).indices == b.indices[:25]).all()
    # the command line writes the same
    out = tmp_path / "c.npz"
    q = tmp_path / "q.xyz"
    np.savetxt(q, b.source[:30])
    p = cli("correspond", str(c["moving"]), "--from", str(i), "--to", str(j), "--points", str(q),
            "--out", str(out))
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        assert (z["indices"] == b.indices[:30]).all()
        np.testing.assert_allclose(z["points"], b.points[:30], atol=1e-5)
