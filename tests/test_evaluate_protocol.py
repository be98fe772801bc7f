"""The evaluation protocol: sampling with patch removal, pair draws, results, CLI eval/compare."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _eval_helpers import assert_one_line_error, cli, fitted_run_dir
from catlas.cli import main
from catlas.config import make_config
from catlas.data import Sequence
from catlas.evaluate import EvalSettings, evaluate, load_gt, sample_frame_pairs
from catlas.evaluate import metrics as mt
from catlas.model import AtlasNetwork
from catlas.run import Run, load_run
from catlas.surface import SurfaceSamples, map_to_frame


@pytest.fixture
def run_dir(example_dir, tmp_path_factory) -> Path:
    return fitted_run_dir(example_dir, tmp_path_factory.getbasetemp())


def _synthetic_run(collapse: int | None) -> Run:
    """A tiny untrained model on a random 3-frame sequence; patch ``collapse`` made constant in uv."""
    cfg = make_config("tiny", {"device": "cpu"})
    torch.manual_seed(0)
    model = AtlasNetwork(cfg.model).eval()
    if collapse is not None:
        with torch.no_grad():
            model.decoder.uv_weight[collapse] = 0.0  # the patch ignores (u, v): det g = 0
    pts = np.random.default_rng(0).random((3, 300, 3)).astype(np.float32)
    seq = Sequence(points=pts, names=["a", "b", "c"], center=np.zeros(3), scale=1.0)
    return Run(Path("synthetic"), cfg, seq, model, 0)


def test_collapsed_patch_is_removed_and_samples_respread():
    run = _synthetic_run(collapse=2)
    s = SurfaceSamples(run, n_points=100)
    assert s.mean_det(0)[2] == 0.0 and (np.delete(s.mean_det(0), 2) > 0).all()
    assert s.collapsed(0).tolist() == [False, False, True, False]
    y_a, y_b, kept, m = s.pair(0, 1)
    assert kept.tolist() == [True, True, False, True]
    assert m == 100 // 3 and y_a.shape == y_b.shape == (3 * m, 3)
    patch, uv = s.layout(kept, m)
    assert set(patch.tolist()) == {0, 1, 3} and uv.shape == (3 * m, 2)
    # same (patch, uv) order in both frames: the samples are the decoder at those uv
    np.testing.assert_allclose(y_b[:m], run.decode(1, np.tile(uv[:m], (4, 1, 1)), False)[0], atol=1e-5)
    # nothing collapsed: all patches, floor(100 / 4) each
    s2 = SurfaceSamples(_synthetic_run(None), n_points=100)
    _, _, kept2, m2 = s2.pair(0, 2)
    assert kept2.all() and m2 == 25


def test_pairs_are_seeded_distinct_and_cover_frames():
    p = sample_frame_pairs(6, 3000, np.random.default_rng(0))
    assert (p[:, 0] != p[:, 1]).all() and p.min() == 0 and p.max() == 5
    counts = np.bincount(p[:, 1], minlength=6)
    assert counts.min() > 0.8 * counts.max()
    assert (p == sample_frame_pairs(6, 3000, np.random.default_rng(0))).all()


def test_protocol_on_a_short_fit(run_dir):
    run = load_run(run_dir)
    gt = load_gt(run)
    t0 = time.perf_counter()
    res = evaluate(run, gt, EvalSettings(pairs=40, seed=3))
    assert time.perf_counter() - t0 < 10
    pp = res.per_pair
    # one pair recomputed by hand with the plain functions
    n = 5
    a, b = res.pairs[n]
    s = SurfaceSamples(run, 3125)
    # decode the same frames in the same batches as evaluate(): float32 results can depend on
    # the batch, and a nearest-sample tie flipped by rounding would change one vertex's error
    s.prepare(sorted(set(res.pairs.ravel().tolist())))
    y_a, y_b, kept, m = s.pair(int(a), int(b))
    k_b, _ = map_to_frame(gt[a], y_a, y_b, gt[b])
    d = mt.distances(gt[b][k_b], gt[b])
    assert pp["msL2_code"][n] == pytest.approx(mt.msl2(d, "code"))
    assert pp["msL2_paper"][n] == pytest.approx(mt.msl2(d, "paper"))
    assert pp["mr"][n] == pytest.approx(mt.mean_rank(gt[b][k_b], gt[b]))
    thr = mt.pck_thresholds()
    for c in mt.CONVENTIONS:
        assert pp[f"mAUC_{c}"][n] == pytest.approx(mt.auc(mt.pck(d, thr, c), thr, c))
    assert pp["CD"][n] == pytest.approx(mt.chamfer([y_a, y_b], [gt[a], gt[b]]))
    assert pp["kept"][n] * pp["m"][n] <= 3125
    # better than a random map by a clear margin (measured: about 0.42 x at 40 iterations)
    rng = np.random.default_rng(0)
    rand = np.mean([mt.distances(gt[b][rng.integers(0, gt.shape[1], gt.shape[1])], gt[b]).mean()
                    for _, b in res.pairs])
    assert pp["msL2_code"].mean() < 0.7 * rand
    summ = res.summary["conventions"]
    assert summ["code"]["msL2"]["mean"] == pytest.approx(pp["msL2_code"].mean() * 1e3)
    assert summ["code"]["mr"]["mean"] == pytest.approx(pp["mr"].mean() * 100)
    assert summ["paper"]["mAUC"]["mean"] == pytest.approx(pp["mAUC_paper"].mean() * 100)
    assert 0 < summ["code"]["mAUC"]["mean"] <= 100
    np.testing.assert_allclose(res.pck["code"].mean() * 100, summ["code"]["mAUC"]["mean"])


def test_cli_eval_writes_refuses_overwrite_and_compare(run_dir, tmp_path, capsys):
    import shutil

    rd = tmp_path / "run"
    shutil.copytree(run_dir, rd)
    p = cli("eval", str(rd), "--pairs", "20")
    assert p.returncode == 0, p.stderr
    assert "code" in p.stdout and "paper" in p.stdout and "msL2" in p.stdout
    m = json.loads((rd / "eval" / "metrics.json").read_text())
    assert set(m["conventions"]) == {"code", "paper"} and m["settings"]["pairs"] == 20
    rows = (rd / "eval" / "pairs.csv").read_text().strip().splitlines()
    assert len(rows) == 21 and rows[0].startswith("pair,frame_a,frame_b,msL2_code")
    assert (rd / "eval" / "pck.png").read_bytes()[:4] == b"\x89PNG"
    assert (rd / "eval" / "by_offset.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["eval", str(rd), "--pairs", "20"]) != 0  # the subprocess path is tested below
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    p = cli("compare", str(rd), str(run_dir))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 3 and "msL2" in lines[0] and "fit" in lines[0]
    assert lines[1].startswith("run (mca)") and lines[2].split()[2] == "-"


def test_explicit_gt_matches_stored(run_dir, example_dir):
    run = load_run(run_dir)
    np.testing.assert_allclose(load_gt(run, example_dir), load_gt(run), atol=1e-5)


def test_cli_eval_bad_input(run_dir, example_dir, tmp_path, capsys):
    # through `python -m catlas` (startup costs ~1.5 s each, so the rest go through main())
    assert_one_line_error(cli("eval", str(tmp_path / "nope")), "no such run folder")
    other = tmp_path / "other.npy"
    np.save(other, np.random.default_rng(0).random((6, 50, 3)))
    # GT from another sequence: same frame count, other vertex count than the run
    assert_one_line_error(cli("eval", str(run_dir), "--gt", str(other), "--overwrite"), "50 vertices")

    def in_process(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    # GT whose frames have different vertex counts
    bad = tmp_path / "bad_gt"
    bad.mkdir()
    files = sorted(example_dir.glob("*.obj"))
    for k, f in enumerate(files):
        (bad / f.name).write_text(f.read_text() + ("v 0 0 0\n" if k == 2 else ""))
    assert_one_line_error(in_process("eval", str(run_dir), "--gt", str(bad), "--overwrite"),
                          "vertices but")
    # wrong number of frames
    np.save(other, np.random.default_rng(0).random((2, 50, 3)))
    assert_one_line_error(in_process("eval", str(run_dir), "--gt", str(other), "--overwrite"),
                          "2 GT frames")
    assert_one_line_error(in_process("eval", str(run_dir), "--gt", str(tmp_path / "x")), "no such")
    assert_one_line_error(in_process("compare", str(tmp_path / "nope")), "not a catlas run folder")
    assert not (run_dir / "eval").exists()


@pytest.mark.slow
def test_paper_size_eval_is_fast(cat_walk, tmp_path):
    """500 pairs x 3125 points, 35 frames, 1297 GT vertices, code 1024 decoder 1026-513-256,
    untrained (speed only): under 30 s on a 2-core CPU."""
    from catlas.data import load_sequence
    from catlas.train.checkpoint import save_checkpoint

    cfg = make_config("paper", {"device": "cpu"})
    seq = load_sequence(cat_walk, cfg.data, np.random.default_rng(0))
    cfg.save(tmp_path / "config.yaml")
    seq.save_npz(tmp_path / "sequence.npz")
    save_checkpoint(tmp_path, {"model": AtlasNetwork(cfg.model).state_dict(), "iteration": 0}, 0)
    t0 = time.perf_counter()
    run = load_run(tmp_path)
    res = evaluate(run, load_gt(run))
    assert time.perf_counter() - t0 < 30
    assert len(res.pairs) == 500 and res.summary["gt_vertices"] == 1297
    assert res.summary["predicted_points_per_shape"] == 3120


def test_error_by_offset_groups_pairs_by_frame_distance():
    from catlas.evaluate.protocol import EvalResult, EvalSettings
    from catlas.evaluate.report import error_by_offset

    pairs = np.array([[0, 1], [3, 2], [0, 3], [4, 1], [2, 2 + 1]])
    pp = {"msL2_code": np.array([0.010, 0.020, 0.050, 0.070, 0.030]),
          "mr": np.array([0.01, 0.02, 0.05, 0.07, 0.03])}
    res = EvalResult(EvalSettings(), pairs, pp, np.zeros(1), {})
    off, n, msl2, mr = error_by_offset(res)
    assert off.tolist() == [1, 3] and n.tolist() == [3, 2]
    np.testing.assert_allclose(msl2, [20.0, 60.0])  # x1e3
    np.testing.assert_allclose(mr, [2.0, 6.0])  # %


def test_gt_of_a_centred_run_gets_each_input_frames_shift(tmp_path):
    """load_gt(run, path) under data.center_frames: GT frame k is moved by input frame k's
    centre (not its own centroid) and scaled by the run's scale."""
    rng = np.random.default_rng(4)
    centers = rng.normal(size=(3, 3)) * 10
    seq = Sequence(points=np.zeros((3, 10, 3), np.float32), names=["a", "b", "c"], center=centers[0],
                   scale=2.5, frame_centers=centers)
    run = Run(Path("synthetic"), make_config("tiny", {"device": "cpu"}), seq, None, 0)
    gt = rng.normal(size=(3, 40, 3)) + [[[0, 0, 0]], [[5, 0, 0]], [[0, -7, 1]]]  # own centroids differ
    for k, v in enumerate(gt):
        np.savetxt(tmp_path / f"g{k}.xyz", v)
    np.testing.assert_allclose(load_gt(run, tmp_path), (gt - centers[:, None]) / 2.5, atol=1e-12)


def test_centred_run_gt_and_metrics(tmp_path_factory):
    """The stored GT and --gt of the input frames agree under data.center_frames, and the
    protocol's metrics (normalised units) of the moving creature's run equal the in-place one's."""
    from _eval_helpers import centred_runs

    c = centred_runs(tmp_path_factory.getbasetemp())
    still, moving = load_run(c["still"]), load_run(c["moving"])
    gt = load_gt(moving, c["moving_frames"])
    np.testing.assert_allclose(gt, load_gt(moving), atol=1e-5)
    np.testing.assert_allclose(gt, load_gt(still, c["still_frames"]), atol=1e-5)
    settings = EvalSettings(pairs=10, n_points=500)
    a, b = evaluate(still, load_gt(still), settings), evaluate(moving, gt, settings)
    for name in ("msL2", "mr", "mAUC", "CD"):
        assert b.summary["conventions"]["code"][name]["mean"] == pytest.approx(
            a.summary["conventions"]["code"][name]["mean"], rel=1e-4, abs=1e-6), name
    norm = b.summary["normalisation"]
    np.testing.assert_allclose(norm["frame_centers"], moving.sequence.frame_centers)
    assert norm["center"] == norm["frame_centers"][0] and norm["scale"] == moving.sequence.scale
