"""Metric functions on plain arrays (docs/evaluation.md, 4-6), both conventions."""

from __future__ import annotations

import numpy as np
import pytest

from catlas.evaluate import metrics as mt
from catlas.surface import collapsed_patches, kept_patches


@pytest.fixture
def gt() -> np.ndarray:
    return np.random.default_rng(0).random((200, 3))


def test_identity_map_is_perfect(gt):
    thr = mt.pck_thresholds()
    d = mt.distances(gt, gt)
    for c in mt.CONVENTIONS:
        assert mt.msl2(d, c) == 0.0
        curve = mt.pck(d, thr, c)
        assert (curve == 1.0).all()
        assert mt.auc(curve, thr, c) == pytest.approx(1.0)
    assert mt.mean_rank(gt, gt) == 0.0
    assert mt.chamfer([gt], [gt]) == 0.0


def test_constant_offset(gt):
    off = np.array([0.03, 0.0, 0.04])  # |off| = 0.05
    d = mt.distances(gt + off, gt)
    thr = mt.pck_thresholds()
    assert mt.msl2(d, "code") == pytest.approx(0.05)
    assert mt.msl2(d, "paper") == pytest.approx(0.0025)
    # code: d^2 = 0.0025 <= t for the thresholds t >= 0.0025 of linspace(0, 0.02, 100)
    expected = (thr >= 0.0025 - 1e-12).mean()
    assert mt.auc(mt.pck(d, thr, "code"), thr, "code") == pytest.approx(expected)
    # paper: d = 0.05 exceeds every threshold (max 0.02)
    assert mt.auc(mt.pck(d, thr, "paper"), thr, "paper") == 0.0
    # chamfer of a cloud and its small shift (far below the point spacing): 2 |off|^2
    grid = np.stack(np.meshgrid(*[np.arange(5.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert mt.chamfer([grid + off], [grid]) == pytest.approx(2 * 0.0025)


def test_known_permutation():
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    pred = gt[[0, 3, 2, 1]]  # errors 0, 2, 0, 2
    d = mt.distances(pred, gt)
    assert d.tolist() == [0.0, 2.0, 0.0, 2.0]
    assert mt.msl2(d, "code") == 1.0 and mt.msl2(d, "paper") == 2.0
    # vertex 1: {0, 1, 2} are closer than 2 -> 3/4; vertex 3: {2, 3} -> 2/4
    r = mt.rank_fractions(mt.pairwise_sqdist(gt), d * d)
    assert r.tolist() == [0.0, 0.75, 0.0, 0.5]
    assert mt.mean_rank(pred, gt) == pytest.approx(0.3125)


def test_wrong_but_close_prediction_has_rank_at_least_one_over_k(gt):
    pred = gt.copy()
    pred[0] = gt[0] + 1e-9
    r = mt.rank_fractions(mt.pairwise_sqdist(gt), mt.distances(pred, gt) ** 2)
    assert r[0] == pytest.approx(1 / len(gt)) and (r[1:] == 0).all()


def test_pck_and_auc_against_brute_force():
    rng = np.random.default_rng(1)
    d = rng.random((7, 300)) * 0.16
    thr = mt.pck_thresholds(100, 0.0, 0.02)
    for c in mt.CONVENTIONS:
        curve = mt.pck(d, thr, c)
        brute = np.zeros((7, 100))
        for p in range(7):
            for s, t in enumerate(thr):
                brute[p, s] = sum(1 for x in d[p] if (x * x if c == "code" else x) <= t) / 300
        np.testing.assert_allclose(curve, brute)
        a = mt.auc(curve, thr, c)
        if c == "code":
            np.testing.assert_allclose(a, brute.mean(axis=1))
        else:  # trapezoid rule written out, over the range 0.02
            h = thr[1] - thr[0]
            trap = h * (brute[:, 1:] + brute[:, :-1]).sum(axis=1) / 2 / 0.02
            np.testing.assert_allclose(a, trap)
    # the code convention thresholds squared distances: effective range sqrt(0.02)
    assert mt.pck(np.array([0.14]), thr, "code")[-1] == 1.0
    assert mt.pck(np.array([0.14]), thr, "paper")[-1] == 0.0


def test_unknown_convention_rejected():
    with pytest.raises(ValueError, match="convention"):
        mt.msl2(np.zeros(3), "other")


def test_collapse_rule_and_union():
    a = np.array([1.0, 0.8, 1e-5, 1.2, 0.0])
    assert collapsed_patches(a).tolist() == [False, False, True, False, True]
    # ratio against the mean of all patches, threshold 1e-3 (strict)
    m = np.array([1.0, 1.0, 1.0, 1.0])
    assert not collapsed_patches(np.append(m, 1.0e-3 * 0.8 + 1e-6))[-1]
    ca = np.array([True, False, True, False])
    cb = np.array([True, True, False, False])
    assert kept_patches(ca, cb).tolist() == [False, True, True, True]
    allc = np.ones(4, bool)
    assert kept_patches(allc, allc).all()
    assert collapsed_patches(np.zeros(3)).all()
