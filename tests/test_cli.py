"""The command line on bad input: one line on stderr naming the problem, exit code != 0,
and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catlas", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode not in (0, None), res
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("catlas: error:")
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _cloud(path: Path, n: int = 300, bad: float | None = None) -> None:
    pts = np.random.default_rng(0).normal(size=(n, 3))
    if bad is not None:
        pts[5, 1] = bad
    np.savetxt(path, pts)


@pytest.mark.parametrize("case", ["empty", "nan", "inf", "few", "malformed", "mixed", "missing"])
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, case):
    frames = tmp_path / "frames"
    frames.mkdir()
    needle = ""
    if case != "empty":
        for k in range(3):
            _cloud(frames / f"f{k}.xyz")
    if case == "nan":
        _cloud(frames / "f1.xyz", bad=float("nan"))
        needle = "f1.xyz"
    elif case == "inf":
        _cloud(frames / "f2.xyz", bad=float("inf"))
        needle = "f2.xyz"
    elif case == "few":
        _cloud(frames / "f1.xyz", n=10)  # tiny preset: min_points 20
        needle = "f1.xyz"
    elif case == "malformed":
        (frames / "f1.xyz").write_text("1 2 3\nhello world !\n")
        needle = "f1.xyz"
    elif case == "mixed":
        np.save(frames / "f3.npy", np.zeros((300, 3)))
        needle = "mix"
    elif case == "missing":
        frames = tmp_path / "nope"
        needle = "nope"
    out = tmp_path / "run"
    res = _cli("fit", str(frames), "--out", str(out), "--preset", "tiny", "--quiet")
    _assert_one_line_error(res, needle)
    assert not out.exists()


def test_single_frame_fits_without_metric_term(tmp_path):
    _cloud(tmp_path / "only.xyz", n=500)
    res = subprocess.run([sys.executable, "-m", "catlas", "fit", str(tmp_path / "only.xyz"), "--out",
                          str(tmp_path / "r1"), "--preset", "tiny", "--quiet", "--iterations", "3",
                          "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "one frame" in res.stderr
    assert (tmp_path / "r1" / "meshes" / "frame_0000.obj").exists()
    assert not (tmp_path / "r1" / "meshes" / "frame_0001.obj").exists()


def test_existing_run_and_bad_resume(tmp_path, example_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    _assert_one_line_error(_cli("fit", str(example_dir), "--out", str(out), "--preset", "tiny"), "--overwrite")
    _assert_one_line_error(_cli("fit", "--resume", str(tmp_path / "none")), "nothing to resume")
    _assert_one_line_error(_cli("fit", str(example_dir), "--out", str(tmp_path / "x"), "--set", "loss.method=foo"),
                           "foo")
    assert (out / "mine.txt").read_text() == "x"


def test_dsr_needs_meshes(tmp_path):
    frames = tmp_path / "f"
    frames.mkdir()
    for k in range(2):
        _cloud(frames / f"{k}.xyz")
    _assert_one_line_error(_cli("fit", str(frames), "--out", str(tmp_path / "r"), "--preset", "tiny",
                                "--method", "dsr"), "dsr")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, needle", [(["--variant", "no-colon"], "--variant"),
                                          (["--rounds", "0"], "--rounds")])
def test_bench_bad_options_give_one_line(args, needle):
    _assert_one_line_error(_cli("bench", "--preset", "tiny", *args), needle)


def test_minutes_and_iterations_are_exclusive(tmp_path, example_dir):
    out = tmp_path / "run"
    res = _cli("fit", str(example_dir), "--out", str(out), "--preset", "tiny", "--minutes", "1", "--iterations", "5")
    assert res.returncode == 2 and "not allowed with" in res.stderr
    _assert_one_line_error(_cli("fit", str(example_dir), "--out", str(out), "--minutes", "-1"), "minutes must be > 0")
    assert not out.exists()


def test_method_ours_is_a_silent_alias_of_mca(example_dir, tmp_path):
    """--method ours (the former name) fits mca without a word about it; --help names mca only."""
    res = _cli("fit", str(example_dir), "--out", str(tmp_path / "r"), "--preset", "tiny", "--method", "ours",
               "--iterations", "2", "--device", "cpu", "--quiet")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert "method: mca" in (tmp_path / "r" / "config.yaml").read_text()
    assert "ours" not in _cli("fit", "--help").stdout
