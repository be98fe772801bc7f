"""Correspondence and reconstruction metrics on plain arrays (docs/evaluation.md, 4-6).

Two conventions, named everywhere by a string:

* ``"code"`` (default): the authors' evaluation code, which produced the paper's tables.
  msL2 = mean **Euclidean** distance; PCK thresholds compare the **squared** distance d^2 <= t;
  AUC = arithmetic mean of the PCK values.
* ``"paper"``: the paper's text. msL2 = mean **squared** distance; PCK compares the distance
  d <= t; AUC = normalised area (trapezoid rule) under PCK over [t_min, t_max].

mr and CD read the same in both (mr: fraction of GT vertices strictly closer than the
prediction, compared as squared distances; CD: squared distances, each direction averaged).

All functions return raw values in data units (distances) or fractions; :data:`PRINT_SCALE`
gives the factors of the printed tables (msL2 x1e3, mr %, mAUC %, CD x1e3).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

__all__ = [
    "CONVENTIONS", "PRINT_SCALE", "PRINT_UNITS", "pck_thresholds", "distances", "msl2",
    "pairwise_sqdist", "rank_fractions", "mean_rank", "pck", "auc", "chamfer_terms", "chamfer",
]

CONVENTIONS: tuple[str, ...] = ("code", "paper")
PRINT_SCALE: dict[str, float] = {"msL2": 1e3, "mr": 100.0, "mAUC": 100.0, "CD": 1e3}
PRINT_UNITS: dict[str, str] = {"msL2": "x1e3", "mr": "%", "mAUC": "%", "CD": "x1e3"}


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")


def pck_thresholds(steps: int = 100, t_min: float = 0.0, t_max: float = 0.02) -> np.ndarray:
    """``(steps,)`` thresholds linspace(t_min, t_max, steps), both ends included.

    Code convention: thresholds on squared distances (units^2); paper: on distances (units).
    """
    return np.linspace(t_min, t_max, steps)


def distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error d (...,K) between predicted correspondents ``pred`` and GT ``gt`` (...,K,3)."""
    return np.sqrt(_sqnorm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64)))


def msl2(d: np.ndarray, convention: str = "code") -> float:
    """msL2 from per-vertex distances d (any shape, units): code = mean d; paper = mean d^2."""
    _check_convention(convention)
    d = np.asarray(d, np.float64)
    return float(d.mean() if convention == "code" else (d * d).mean())


def pairwise_sqdist(gt: np.ndarray) -> np.ndarray:
    """``(K,K)`` squared distances between the GT vertices ``gt`` (K,3), float64, exact 0 diagonal."""
    g = np.asarray(gt, np.float64)
    return cdist(g, g, "sqeuclidean")


def rank_fractions(sqdist_gt: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Per-vertex rank r_k = |{l : |V[l] - V[k]|^2 < d2[k]}| / K  -> ``(K,)`` in [0, 1].

    sqdist_gt: ``(K,K)`` from :func:`pairwise_sqdist` of the target frame's GT vertices V;
    d2: ``(K,)`` squared error of each vertex's predicted correspondent (units^2). Strict
    comparison: 0 for an exact prediction, >= 1/K otherwise (the true vertex counts).
    """
    d2 = np.asarray(d2, np.float64)
    return (sqdist_gt < d2[:, None]).sum(axis=1) / float(len(d2))


def mean_rank(pred: np.ndarray, gt: np.ndarray) -> float:
    """mr (fraction, not %) of predicted correspondents ``pred`` (K,3) against GT ``gt`` (K,3)."""
    d2 = _sqnorm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64))
    return float(rank_fractions(pairwise_sqdist(gt), d2).mean())


def pck(d: np.ndarray, thresholds: np.ndarray, convention: str = "code") -> np.ndarray:
    """Fraction of correct keypoints per threshold: ``d`` (..., K) distances -> (..., T).

    code: d^2 <= t; paper: d <= t.
    """
    _check_convention(convention)
    d = np.asarray(d, np.float64)
    x = d * d if convention == "code" else d
    t = np.asarray(thresholds, np.float64)
    return (x[..., None] <= t).mean(axis=-2)


def auc(curve: np.ndarray, thresholds: np.ndarray, convention: str = "code") -> np.ndarray | float:
    """Area under PCK ``curve`` (..., T) in [0, 1]: code = mean of the T values; paper =
    trapezoid area over [t_0, t_{T-1}] divided by the range."""
    _check_convention(convention)
    c = np.asarray(curve, np.float64)
    if convention == "code":
        out = c.mean(axis=-1)
    else:
        t = np.asarray(thresholds, np.float64)
        out = np.trapezoid(c, t, axis=-1) / (t[-1] - t[0])
    return float(out) if np.ndim(out) == 0 else out


def chamfer_terms(pred: np.ndarray, gt: np.ndarray | cKDTree) -> tuple[float, float]:
    """Mean squared NN distances (pred -> gt, gt -> pred) for one shape; pred (M,3), gt (K,3)
    or a prebuilt cKDTree of it. Units^2."""
    pred = np.asarray(pred, np.float64)
    tree = gt if isinstance(gt, cKDTree) else cKDTree(np.asarray(gt, np.float64))
    d_pg, _ = tree.query(pred)
    d_gp, _ = cKDTree(pred).query(tree.data)
    return float(np.mean(d_pg ** 2)), float(np.mean(d_gp ** 2))


def chamfer(preds: list[np.ndarray], gts: list[np.ndarray]) -> float:
    """CD over a set of shapes (both conventions): mean over all predicted points of the
    squared distance to the nearest GT vertex of the same shape, plus mean over all GT
    vertices of the squared distance to the nearest predicted point. preds[i] (M_i,3),
    gts[i] (K_i,3); units^2."""
    s_pg = s_gp = 0.0
    for p, g in zip(preds, gts, strict=True):
        a, b = chamfer_terms(p, g)
        s_pg += a * len(p)
        s_gp += b * len(g)
    return s_pg / sum(len(p) for p in preds) + s_gp / sum(len(g) for g in gts)


def _sqnorm(x: np.ndarray) -> np.ndarray:
    return (x * x).sum(axis=-1)
