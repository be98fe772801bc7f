"""The nearest-vertex baseline: protocol scores on known cases, `catlas compare --baseline nearest`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from _eval_helpers import assert_one_line_error, cli, fitted_run_dir
from catlas.errors import CatlasError
from catlas.evaluate import (EvalSettings, evaluate_nearest, load_gt, nearest_vertex_map,
                             sample_frame_pairs)
from catlas.run import load_run


@pytest.fixture
def run_dir(example_dir, tmp_path_factory) -> Path:
    return fitted_run_dir(example_dir, tmp_path_factory.getbasetemp())


def _code_means(summary: dict, convention: str = "code") -> list[float]:
    c = summary["conventions"][convention]
    return [c[k]["mean"] for k in ("msL2", "mr", "mAUC", "CD")]


def test_identity_sequence_is_perfect():
    frame = np.random.default_rng(0).random((50, 3))
    gt = np.repeat(frame[None], 4, axis=0)
    res = evaluate_nearest(gt, EvalSettings(pairs=30, seed=5))
    assert (res.pairs == sample_frame_pairs(4, 30, np.random.default_rng(5))).all()
    for c in ("code", "paper"):
        msl2, mr, mauc, cd = _code_means(res.summary, c)
        assert msl2 == 0 and mr == 0 and mauc == pytest.approx(100) and np.isnan(cd)
    assert np.isnan(res.per_pair["CD"]).all() and res.per_pair["msL2_code"].shape == (30,)
    assert res.pck["code"].shape == (100,) and (res.pck["code"] == 1).all()
    assert res.summary["method"] == "nearest" and res.summary["gt_vertices"] == 50


def test_two_frames_known_answer():
    # three vertices on a line, shifted by 0.06: the middle one snaps to its left neighbour
    # (A -> B), the first one to its right neighbour (B -> A); every other vertex is exact.
    a = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.3, 0, 0]])
    b = a + [0.06, 0, 0]
    assert nearest_vertex_map(a, b).tolist() == [0, 0, 2]
    assert nearest_vertex_map(b, a).tolist() == [1, 1, 2]
    res = evaluate_nearest(np.stack([a, b]), EvalSettings(pairs=7, seed=0))
    assert set(map(tuple, res.pairs.tolist())) <= {(0, 1), (1, 0)}
    pp = res.per_pair
    # one error of 0.1 among 3 vertices in either direction
    np.testing.assert_allclose(pp["msL2_code"], 0.1 / 3)
    np.testing.assert_allclose(pp["msL2_paper"], 0.01 / 3)
    # rank: only the true vertex is strictly closer (the neighbour is at exactly the error)
    np.testing.assert_allclose(pp["mr"], 1 / 9)
    # code: d^2 = 0.01 <= t for 50 of the 100 thresholds linspace(0, 0.02); paper: d = 0.1 > 0.02
    np.testing.assert_allclose(pp["mAUC_code"], 2 / 3 + 1 / 3 * 0.5)
    np.testing.assert_allclose(pp["mAUC_paper"], 2 / 3)
    msl2, mr, mauc, cd = _code_means(res.summary)
    assert msl2 == pytest.approx(100 / 3) and mr == pytest.approx(100 / 9)
    assert mauc == pytest.approx(250 / 3) and np.isnan(cd)
    assert res.summary["conventions"]["code"]["msL2"]["std"] == pytest.approx(1e3 * 0.1 * np.sqrt(2) / 3)


def test_bad_gt_shapes():
    with pytest.raises(CatlasError, match="at least 2 frames"):
        evaluate_nearest(np.zeros((1, 5, 3)))
    with pytest.raises(CatlasError, match="shape"):
        evaluate_nearest(np.zeros((3, 5, 2)))
    with pytest.raises(CatlasError, match="pairs"):
        evaluate_nearest(np.zeros((3, 5, 3)), EvalSettings(pairs=0))


def test_compare_baseline_nearest(run_dir, tmp_path):
    gt = load_gt(load_run(run_dir))
    p = cli("compare", str(run_dir), "--baseline", "nearest")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[1].startswith("tiny_run (mca)") and lines[2].startswith("nearest ")
    cells = lines[2].split()
    expect = _code_means(evaluate_nearest(gt, EvalSettings()).summary)  # not evaluated: defaults
    assert [float(x) for x in cells[1:4]] == pytest.approx(expect[:3], abs=1e-4)
    assert cells[4:] == ["-", "-"]
    assert "500 pairs, seed 0" in lines[3]
    # an evaluated run: the baseline uses the pairs and seed its metrics.json recorded
    rd = tmp_path / "run"
    shutil.copytree(run_dir, rd)
    assert cli("eval", str(rd), "--pairs", "20", "--seed", "4").returncode == 0
    assert json.loads((rd / "eval" / "metrics.json").read_text())["settings"]["seed"] == 4
    p = cli("compare", str(rd), str(run_dir), "--baseline", "nearest", "--convention", "paper")
    assert p.returncode == 0, p.stderr
    row = next(ln for ln in p.stdout.splitlines() if ln.startswith("nearest "))
    expect = _code_means(evaluate_nearest(gt, EvalSettings(pairs=20, seed=4)).summary, "paper")
    assert [float(x) for x in row.split()[1:4]] == pytest.approx(expect[:3], abs=1e-4)
    assert "20 pairs, seed 4" in p.stdout


def test_compare_baseline_bad_input(tmp_path):
    import catlas

    frames = tmp_path / "clouds"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        np.savetxt(frames / f"f{k}.xyz", rng.normal(size=(300, 3)))
    run = tmp_path / "cloud_run"
    catlas.fit(frames, run, preset="tiny", overrides={"device": "cpu", "train": {"iterations": 2}},
               progress=False)
    assert_one_line_error(cli("compare", str(run), "--baseline", "nearest"), "no GT vertices")
    assert_one_line_error(cli("compare", str(run), "--gt", str(frames)), "--baseline")
    assert_one_line_error(cli("compare", str(run), "--baseline", "nearest", "--gt",
                              str(tmp_path / "nope")), "no such")
