"""The paper's evaluation protocol on a fitted run (docs/evaluation.md).

M random frame pairs (A uniform, B uniform over the other frames; seeded here, unlike the
authors' unseeded draws). Inputs: each frame's latent code comes from the first
``data.encoded_points()`` (2500 for the paper preset) of the run's stored surface samples, i.e. one
fixed uniform surface sample of the frame's GT mesh (the authors draw a fresh 2500-point subset
per pair). Predicted points: n = 3125 per shape as floor(n / P') even UV samples on each kept
patch. GT: the GT mesh vertices, in the run's normalisation (frame 1's vertex centroid and
longest bounding-box side). A -> B correspondence: each GT vertex of A -> nearest predicted
sample of A -> same (patch, uv) in B -> nearest GT vertex of B (:func:`catlas.surface.map_to_frame`).

Speed: every frame is decoded once (first pass, with Jacobians) and cached; a pair costs
KD-tree queries and a K x K comparison (the K x K GT distances are computed once per frame B).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
from scipy.spatial import cKDTree

from catlas.config import MAX_SEED
from catlas.errors import CatlasError, check_int
from catlas.evaluate import metrics as mt
from catlas.surface import MAX_POINTS, MAX_RATIO, SurfaceSamples, map_to_frame

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["MAX_PAIRS", "MAX_POINTS", "check_settings", "EvalSettings", "EvalResult",
           "sample_frame_pairs", "evaluate", "METRICS", "score_pair",
           "convention_summary", "SUMMARY_UNITS", "evaluate_vertex_map"]

METRICS: tuple[str, ...] = ("msL2", "mr", "mAUC", "CD")
MAX_PAIRS = 100_000
"""Most frame pairs an evaluation scores (it keeps pairs x GT vertices errors in memory)."""


@dataclass
class EvalSettings:
    """Protocol settings (defaults = the authors' ``eval_dataset.py``)."""

    pairs: int = 500
    seed: int = 0
    """Seed of the pair draws (the even UV sets use ``uv_seed``)."""
    n_points: int = 3125
    pck_steps: int = 100
    pck_min: float = 0.0
    pck_max: float = 0.02
    max_ratio: float = MAX_RATIO
    uv_seed: int = 0


@dataclass
class EvalResult:
    """Everything one evaluation produced. Per-pair values are raw (data units / fractions)."""

    settings: EvalSettings
    pairs: np.ndarray
    """(M,2) int64 frame indices (A, B)."""
    per_pair: dict[str, np.ndarray]
    """Columns of length M: msL2_code, msL2_paper, mr, mAUC_code, mAUC_paper, CD, kept, m."""
    thresholds: np.ndarray
    """(T,) PCK thresholds (code: on squared distances; paper: on distances)."""
    pck: dict[str, np.ndarray]
    """Convention -> (T,) PCK curve averaged over pairs."""
    summary: dict = field(default_factory=dict)
    """JSON-ready: per convention, metric -> {mean, std} in printed units (see PRINT_UNITS)."""


def check_settings(s: "EvalSettings", n_patches: int | None = None) -> None:
    """CatlasError naming the option of the first protocol setting out of range. ``n_patches``:
    the run's patch count (``n_points`` must give every patch a point), None when no atlas is
    sampled."""
    check_int("--pairs", s.pairs, 1, MAX_PAIRS)
    check_int("--seed", s.seed, 0, MAX_SEED)
    lo = n_patches or 1
    check_int("--points", s.n_points, lo, MAX_POINTS,
              f" (at least one per patch: the run has {n_patches} patches)" if n_patches else "")
    check_int("uv_seed", s.uv_seed, 0, MAX_SEED)
    check_int("pck_steps", s.pck_steps, 1, 100_000)
    values = (s.pck_min, s.pck_max, s.max_ratio)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values) \
            or not 0 <= s.pck_min < s.pck_max or s.max_ratio < 0:
        raise CatlasError(f"need finite 0 <= pck_min < pck_max and max_ratio >= 0, got pck_min "
                          f"{s.pck_min!r}, pck_max {s.pck_max!r}, max_ratio {s.max_ratio!r}")


def sample_frame_pairs(n_frames: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_pairs, 2)`` int64: A uniform over frames, B uniform over the other frames."""
    if n_frames < 2:
        raise CatlasError(f"evaluation needs at least 2 frames, the run has {n_frames}")
    a = rng.integers(0, n_frames, n_pairs)
    b = (a + rng.integers(1, n_frames, n_pairs)) % n_frames
    return np.stack([a, b], axis=1).astype(np.int64)


def evaluate(run: "Run", gt: np.ndarray, settings: EvalSettings | None = None,
             progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score ``run`` against GT vertices ``gt`` (K_frames, V, 3) in the run's normalised units."""
    s = settings or EvalSettings()
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 3 or gt.shape[0] != run.n_frames or gt.shape[2] != 3:
        raise CatlasError(f"GT must have shape ({run.n_frames}, V, 3), got {tuple(gt.shape)}")
    check_settings(s, run.n_patches)
    t0 = time.perf_counter()
    pairs = sample_frame_pairs(run.n_frames, s.pairs, np.random.default_rng(s.seed))
    sampler = SurfaceSamples(run, s.n_points, s.uv_seed, s.max_ratio)
    sampler.prepare(sorted(set(pairs.ravel().tolist())))
    thr = mt.pck_thresholds(s.pck_steps, s.pck_min, s.pck_max)
    V = gt.shape[1]
    trees: dict[int, cKDTree] = {}
    proj: dict[tuple, np.ndarray] = {}  # (frame, kept, m) -> (V,) nearest sample of each GT vertex
    cd: dict[tuple, tuple[float, float]] = {}  # (frame, kept, m) -> chamfer terms

    def tree(f: int) -> cKDTree:
        if f not in trees:
            trees[f] = cKDTree(gt[f])
        return trees[f]

    M = len(pairs)
    cols = {k: np.empty(M) for k in ("msL2_code", "msL2_paper", "mr", "mAUC_code", "mAUC_paper", "CD")}
    cols["kept"] = np.empty(M, np.int64)
    cols["m"] = np.empty(M, np.int64)
    d_all = np.empty((M, V))
    r_all = np.empty((M, V))
    curves = {c: np.empty((M, len(thr))) for c in mt.CONVENTIONS}
    order = np.argsort(pairs[:, 1], kind="stable")  # group by B: one K x K matrix per frame B
    sq_b, sq_frame, done = None, -1, 0
    for n in order:
        a, b = int(pairs[n, 0]), int(pairs[n, 1])
        if b != sq_frame:
            sq_b, sq_frame = mt.pairwise_sqdist(gt[b]), b
        y_a, y_b, kept, m = sampler.pair(a, b)
        key = (kept.tobytes(), m)
        k_b, proj[(a, *key)] = map_to_frame(gt[a], y_a, y_b, tree(b), sample=proj.get((a, *key)))
        d_all[n], r_all[n], values, pair_curves = score_pair(sq_b, k_b, thr)
        for k, v in values.items():
            cols[k][n] = v
        for c in mt.CONVENTIONS:
            curves[c][n] = pair_curves[c]
        for f, y in ((a, y_a), (b, y_b)):
            if (f, *key) not in cd:
                cd[(f, *key)] = mt.chamfer_terms(y, tree(f))
        # equal sizes (M' predicted, V GT per shape): pooled means = averages of the two shapes
        (pa, ga), (pb, gb) = cd[(a, *key)], cd[(b, *key)]
        cols["CD"][n] = 0.5 * (pa + pb) + 0.5 * (ga + gb)
        cols["kept"][n], cols["m"][n] = int(kept.sum()), m
        done += 1
        if progress is not None:
            progress(done, M)
    result = EvalResult(s, pairs, cols, thr, {c: v.mean(axis=0) for c, v in curves.items()})
    result.summary = _summary(result, d_all, r_all, run, V, time.perf_counter() - t0)
    return result


def score_pair(sq_b: np.ndarray, k_b: np.ndarray, thresholds: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, dict[str, float], dict[str, np.ndarray]]:
    """Correspondence scores of one pair A -> B (docs/evaluation.md, 4-5) from the predicted map.

    sq_b: (V,V) squared distances between frame B's GT vertices (:func:`metrics.pairwise_sqdist`);
    k_b: (V,) int, index of the GT vertex of B predicted for each GT vertex of A (vertex k's
    true correspondent is vertex k); thresholds: (T,) PCK thresholds. Returns the per-vertex
    errors d (V,) (normalised units) and rank fractions r (V,), the per-pair values (raw units)
    ``msL2_code, msL2_paper, mr, mAUC_code, mAUC_paper``, and the (T,) PCK curve per convention.
    """
    d2 = sq_b[np.arange(len(k_b)), k_b]
    d = np.sqrt(d2)
    r = mt.rank_fractions(sq_b, d2)
    values: dict[str, float] = {"mr": r.mean()}
    curves: dict[str, np.ndarray] = {}
    for c in mt.CONVENTIONS:
        values[f"msL2_{c}"] = mt.msl2(d, c)
        curves[c] = mt.pck(d, thresholds, c)
        values[f"mAUC_{c}"] = mt.auc(curves[c], thresholds, c)
    return d, r, values, curves


SUMMARY_UNITS: dict[str, str] = {
    "msL2": "x1e3 normalised units; code: mean Euclidean distance, paper: mean squared "
            "distance (x1e3 normalised units^2)",
    "mr": "% of GT vertices strictly closer to the true vertex than the prediction",
    "mAUC": "%; code: PCK on squared distances, thresholds linspace(0, 0.02, 100), AUC = "
            "mean of PCK; paper: PCK on distances, trapezoid area / range",
    "CD": "x1e3 normalised units^2, squared NN distances, each direction averaged "
          "(same in both conventions), predicted points vs GT vertices",
}
"""The ``units`` entry of a summary (metrics.json)."""


def convention_summary(per_pair: dict[str, np.ndarray], d: np.ndarray, r: np.ndarray) -> dict:
    """Per convention, metric -> {mean, std} in printed units (stds as in docs/evaluation.md, 5.5).

    per_pair: :attr:`EvalResult.per_pair`; d, r: (M,V) per-vertex errors and rank fractions of
    all pairs (msL2 and mr use per-vertex stds, mAUC and CD per-pair ones). A NaN column (CD of
    a map without a reconstruction) gives NaN mean and std.
    """
    sc, pp = mt.PRINT_SCALE, per_pair

    def ms(x: np.ndarray, scale: float) -> dict[str, float]:
        return {"mean": float(x.mean() * scale), "std": float(x.std() * scale)}

    conv = {}
    for c in mt.CONVENTIONS:
        conv[c] = {
            "msL2": ms(d if c == "code" else d * d, sc["msL2"]),
            "mr": ms(r, sc["mr"]),
            "mAUC": ms(pp[f"mAUC_{c}"], sc["mAUC"]),
            "CD": ms(pp["CD"], sc["CD"]),
        }
    return conv


def _summary(res: EvalResult, d: np.ndarray, r: np.ndarray, run: "Run", V: int,
             seconds: float) -> dict:
    """Mean +- std per convention in printed units (stds as in docs/evaluation.md, 5.5)."""
    pp = res.per_pair
    return {
        "conventions": convention_summary(pp, d, r),
        "default_convention": "code",
        "units": dict(SUMMARY_UNITS),
        "normalisation": _normalisation(run),
        "settings": asdict(res.settings),
        "frames": run.n_frames,
        "gt_vertices": V,
        "patches": run.n_patches,
        "mean_kept_patches": float(pp["kept"].mean()),
        "predicted_points_per_shape": int(np.round((pp["kept"] * pp["m"]).mean())),
        "inputs": f"encoder codes from the first {run.config.data.encoded_points()} of the run's "
                  f"{run.sequence.n_stored} stored surface samples per frame (fixed per frame)",
        "run_iteration": run.iteration,
        "seconds": round(seconds, 3),
    }


def _normalisation(run: "Run") -> dict:
    """The run's centre and scale; with per-frame centring (data.center_frames) also every
    frame's centre (``center`` is then frame 0's), and with data.align_frames every frame's turn."""
    seq = run.sequence
    out = {"center": seq.center.tolist(), "scale": seq.scale}
    if seq.frame_centers is not None:
        out["frame_centers"] = seq.frame_centers.tolist()
    if seq.frame_rotations is not None:
        out["frame_rotations"] = seq.frame_rotations.tolist()
    return out


def evaluate_vertex_map(gt: np.ndarray, pair_map: Callable[[int, int, cKDTree], np.ndarray],
                        settings: EvalSettings | None, method: str, inputs: str,
                        progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score a map between GT vertices with the protocol (no reconstruction: CD is NaN).

    gt: (K_frames, V, 3) normalised GT vertices; pair_map(a, b, tree_b) -> (V,) int, the vertex
    of frame b predicted for each vertex of frame a (tree_b: a cKDTree of gt[b]); method and
    inputs: the summary's ``method`` and ``inputs`` entries. See :func:`catlas.evaluate.evaluate_nearest`.
    """
    s = settings or EvalSettings()
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 3 or gt.shape[2] != 3 or gt.shape[1] < 1:
        raise CatlasError(f"GT must have shape (frames, V, 3), got {tuple(gt.shape)}")
    check_settings(s)
    t0 = time.perf_counter()
    K, V = gt.shape[:2]
    pairs = sample_frame_pairs(K, s.pairs, np.random.default_rng(s.seed))
    thr = mt.pck_thresholds(s.pck_steps, s.pck_min, s.pck_max)
    M = len(pairs)
    cols = {k: np.empty(M) for k in ("msL2_code", "msL2_paper", "mr", "mAUC_code", "mAUC_paper")}
    cols["CD"] = np.full(M, np.nan)
    cols["kept"] = np.zeros(M, np.int64)
    cols["m"] = np.zeros(M, np.int64)
    d_all, r_all = np.empty((M, V)), np.empty((M, V))
    curves = {c: np.empty((M, len(thr))) for c in mt.CONVENTIONS}
    order = np.argsort(pairs[:, 1], kind="stable")  # group by B: one K x K matrix per frame B
    sq_b, tree_b, frame_b = None, None, -1
    for done, n in enumerate(order, 1):
        a, b = int(pairs[n, 0]), int(pairs[n, 1])
        if b != frame_b:
            sq_b, tree_b, frame_b = mt.pairwise_sqdist(gt[b]), cKDTree(gt[b]), b
        d_all[n], r_all[n], values, pair_curves = score_pair(sq_b, pair_map(a, b, tree_b), thr)
        for k, v in values.items():
            cols[k][n] = v
        for c in mt.CONVENTIONS:
            curves[c][n] = pair_curves[c]
        if progress is not None:
            progress(done, M)
    result = EvalResult(s, pairs, cols, thr, {c: v.mean(axis=0) for c, v in curves.items()})
    result.summary = {
        "method": method,
        "conventions": convention_summary(cols, d_all, r_all),
        "default_convention": "code",
        "units": {**SUMMARY_UNITS, "CD": f"not defined for the {method} map (null in metrics.json)"},
        "normalisation": None,
        "settings": asdict(s),
        "frames": K,
        "gt_vertices": V,
        "patches": None,
        "mean_kept_patches": None,
        "predicted_points_per_shape": None,
        "inputs": inputs,
        "run_iteration": None,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return result
