"""The gradual sequence-growth curriculum (docs/method.md, 5.3): windows, growth order, sampling weights,
and that a curriculum fit resumes bit-for-bit."""

from __future__ import annotations


import pytest
import torch

from catlas.config import make_config
from catlas.errors import CatlasError
from catlas.train.pairs import GrowingWindow, growing_window, sample_pairs


def test_cat_walk_schedule_matches_the_paper():
    """35 frames, window 5, growth from 30,000 to 150,000 of 200,000 (docs/method.md, 5.3)."""
    g = growing_window(35, 200_000, 5, 0.15, 0.75)
    assert len(g.event_at) == 30
    assert g.window(0) == (15, 20) and g.window(29_999) == (15, 20)
    assert g.window(30_000) == (14, 20)
    assert g.event_at[1] == 34_137 and g.window(34_137) == (13, 20)
    assert g.event_at[2] == 34_137 + 4_138 and g.window(38_275) == (13, 21)
    assert g.window(149_999) != (0, 35) and g.window(150_000) == (0, 35)
    # every window is contiguous and grows by exactly one frame per event
    sizes = [hi - lo for lo, hi in g.bounds]
    assert sizes == list(range(5, 36))


def test_growth_switches_side_at_the_border():
    g = GrowingWindow(8, 3, 0, 50)
    lo, hi = g.bounds[-1]
    assert (lo, hi) == (0, 8)
    for (a, b), (c, d) in zip(g.bounds, g.bounds[1:]):
        assert (c, d) in ((a - 1, b), (a, b + 1))


def test_weights_uniform_before_growth_then_favour_rarely_drawn_frames():
    g = GrowingWindow(10, 4, 100, 200)
    hits = torch.zeros(10, dtype=torch.int64)
    w = g.weights(0, hits)
    lo, hi = g.window(0)
    assert (w[lo:hi] == 1).all() and w.sum() == hi - lo
    hits[lo:hi] = torch.tensor([10, 0, 5, 10])
    w = g.weights(100, hits)  # first growth: one new frame, never drawn
    lo2, hi2 = g.window(100)
    assert hi2 - lo2 == 5 and (w[:lo2] == 0).all() and (w[hi2:] == 0).all()
    new = lo2 if lo2 < lo else hi2 - 1
    assert w[new] == pytest.approx(12.0) and w.max() == w[new]  # 1.2 * max(h) - 0
    assert w[lo] == pytest.approx(2.0)  # 1.2 * 10 - 10
    # i only from the window; j may step one frame outside it (from the whole sequence)
    f = sample_pairs(10, 4000, 1, torch.Generator().manual_seed(0), w).view(-1, 2)
    assert f[:, 0].min() >= lo2 and f[:, 0].max() < hi2
    assert ((f[:, 0] - f[:, 1]).abs() == 1).all()


def test_window_partners_keep_both_frames_of_a_pair_inside_the_window():
    """grow_partners=window: the edge frame of the window is paired inward only (with tau 2 the
    edge frame 2 of window [2, 6) gets j in {3, 4}, never 0 or 1)."""
    w = torch.zeros(10, dtype=torch.float64)
    w[2:6] = 1.0
    gen = torch.Generator().manual_seed(0)
    f = sample_pairs(10, 4000, 2, gen, w, partners=(2, 6)).view(-1, 2)
    assert f.min() >= 2 and f.max() < 6
    d = (f[:, 0] - f[:, 1]).abs()
    assert ((d >= 1) & (d <= 2)).all()
    assert set(f[f[:, 0] == 2, 1].tolist()) == {3, 4}
    # the paper's draw (partners from the whole sequence) does step outside the window
    g = sample_pairs(10, 4000, 2, torch.Generator().manual_seed(0), w).view(-1, 2)
    assert g[:, 1].min() < 2 and g[:, 1].max() >= 6
    with pytest.raises(ValueError, match="fewer than 2"):
        sample_pairs(10, 4, 1, gen, w, partners=(3, 4))


def test_bad_curriculum_settings_are_refused():
    with pytest.raises(CatlasError, match="grow_from"):
        make_config("tiny", {"train": {"curriculum": True, "grow_from": 0.9, "grow_to": 0.5}})
    with pytest.raises(CatlasError, match="grow_partners"):
        make_config("tiny", {"train": {"grow_partners": "everywhere"}})


def test_curriculum_fit_counts_draws_and_resumes_exactly(example_dir, tmp_path):
    """A curriculum fit killed after step 13 and resumed ends bit-identical to an uninterrupted
    one (the draw counts are part of the checkpoint)."""
    import os
    import subprocess
    import sys

    from catlas.train.checkpoint import load_checkpoint

    common = ["--preset", "tiny", "--device", "cpu", "--quiet", "--set", "train.iterations=24",
              "--set", "train.checkpoint_every=5", "--set", "train.threads=1",
              "--set", "train.curriculum=true", "--set", "train.grow_window_init=2",
              "--set", "train.grow_from=0.2", "--set", "train.grow_to=0.7"]

    from _signal_at import SCRIPT as SIGNAL_AT

    def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = [SIGNAL_AT] if env else ["-m", "catlas"]  # env: CATLAS_TEST_SIGNAL_AT
        return subprocess.run([sys.executable, *cmd, *args], capture_output=True,
                              text=True, env={**os.environ, **(env or {})}, timeout=300)

    assert cli("fit", str(example_dir), "--out", str(tmp_path / "ref"), *common).returncode == 0
    killed = cli("fit", str(example_dir), "--out", str(tmp_path / "k"), *common,
                 env={"CATLAS_TEST_SIGNAL_AT": "KILL:13"})
    assert killed.returncode == -9
    resumed = cli("fit", "--resume", str(tmp_path / "k"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(tmp_path / "ref"), load_checkpoint(tmp_path / "k")
    first_growth = int(0.2 * 24)
    assert int(a["frame_hits"].sum()) == 2 * (24 - first_growth)  # two first frames per step
    assert torch.equal(a["frame_hits"], b["frame_hits"])
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_curriculum_default_follows_the_paper_per_method():
    """The paper's OUR configs grow the sequence; its AN and DSR configs do not (docs/method.md, 4, 5.3)."""
    assert make_config("tiny").curriculum() is True
    assert make_config("tiny", {"loss": {"method": "atlasnet"}}).curriculum() is False
    assert make_config("tiny", {"loss": {"method": "dsr"}}).curriculum() is False
    assert make_config("tiny", {"loss": {"method": "atlasnet"}, "train": {"curriculum": True}}).curriculum()
    assert not make_config("tiny", {"train": {"curriculum": False}}).curriculum()
