"""catlas.data.stray (fit's stray-point hint): silent on clean, noisy and cut sequences, fires on
outliers and names loss.input_trim, silent once it is on."""

from __future__ import annotations

import numpy as np
import pytest

from catlas.data import make_bending_sheet, make_humanoid, make_walking_creature
from catlas.data.degrade import degrade, read_mesh_sequence, sample_frames
from catlas.data.stray import STRAY_LIMIT, stray_fraction, stray_warning


def _clouds(v, f, n: int = 4000):
    return sample_frames(np.asarray(v, np.float64), f, n, np.random.default_rng(0))[0]


def _degraded(v, f, kind: str, level: float | None = None):
    return degrade(np.asarray(v, np.float64), f, kind, level, rng=np.random.default_rng(0)).frames


def test_known_answer_one_far_point():
    """A 20 x 20 grid with one point lifted far off it: exactly that point is stray."""
    g = np.stack(np.meshgrid(np.arange(20.0), np.arange(20.0)), -1).reshape(-1, 2)
    p = np.concatenate([g, np.zeros((400, 1))], 1)
    p[57, 2] = 30.0
    assert stray_fraction([p])[0] == pytest.approx(1 / 400)
    p[57, 2] = 0.5  # just off the grid: its neighbours are close
    assert stray_fraction([p])[0] == 0.0
    assert stray_fraction([p[:5]])[0] == 0.0  # too few points to say


@pytest.mark.parametrize("make", [make_walking_creature, make_bending_sheet, make_humanoid])
def test_silent_on_clean_noisy_and_cut_built_ins(make):
    v, f = make(12)
    assert stray_warning(_clouds(v, f)) is None
    for kind, level in (("noise", 0.01), ("holes", 0.3), ("partial", None)):
        assert stray_fraction(_degraded(v, f, kind, level)).mean() < STRAY_LIMIT / 2, kind


def test_fires_on_outliers_and_names_the_setting():
    v, f = make_walking_creature(12)
    frames = _degraded(v, f, "outliers", 0.02)
    frac = stray_fraction(frames)
    assert 0.004 < frac.mean() < 0.02  # most of the 2 %: those near the surface are not stray
    line = stray_warning(frames, where="scan/frames")
    assert line.startswith("scan/frames looks like it holds stray points: ") and "\n" not in line
    assert line.endswith("consider loss.input_trim=0.05 (each frame's 5 % of points farthest from "
                         "the surface left out of the input -> surface term)")
    assert stray_warning(frames, input_trim=0.05) is None
    assert stray_warning(_degraded(v, f, "outliers", 0.001)) is None  # 4 points a frame: below the limit


def test_silent_on_cat_walk(cat_walk):
    v, f, _ = read_mesh_sequence(cat_walk)
    assert stray_warning(_clouds(v, f)) is None
