"""DynoSurf's evaluation protocol for a reconstructed mesh sequence (docs/evaluation.md, 9).

The protocol of DynoSurf (Yao et al., ECCV 2024), reused by Preconditioned Deformation Grids
(Kaltheuner et al., 2025) and Neu-PiG (Kaltheuner et al., 2026): per frame, a reconstructed mesh
is compared with the GT mesh through dense uniform surface samples (Chamfer-L2, F-score, normal
consistency), and the reconstruction's vertices are followed through time against GT points that
carry their identity from frame to frame (correspondence error). The formulas follow DynoSurf's
evaluation code (``evaluation/utils.py`` of github.com/yaoyx689/DynoSurf, itself from Occupancy
Flow's ``im2mesh/eval.py``); the per-frame normalisation follows Neu-PiG's evaluation
(``src/utilities/eval_utils.py`` of github.com/vc-bonn/neu-pig) and the data preparation of
Occupancy Flow (``scripts/sample_mesh.py --resize``), whose GT format DynoSurf's scripts read.

Conventions, as in those sources:

* **Normalisation, per frame**: frame k of *both* sequences is translated and scaled with the
  axis-aligned bounding box of the GT vertices of frame k: its centre goes to the origin and its
  longest side becomes 1. Every distance below is in these units ("normalised units"), so the
  numbers do not change when both sequences are scaled or moved together.
* Distances are plain Euclidean distances between samples (a nearest sample, not the nearest
  point of the other *surface*); only Chamfer-L2 squares them.
* Samples are drawn independently on the two surfaces, so a perfect reconstruction does not score
  0 / 1: the sample spacing sets a floor (``dynosurf_metrics(gt, gt)`` measures it).

Shapes follow pytorch3d's docstrings: K frames, V predicted vertices, W GT vertices, F and G
faces, n samples. Arrays are numpy; nearest neighbours use scipy's ``cKDTree``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from catlas.data.sampling import points_from_provenance, sample_surface
from catlas.errors import CatlasError
from catlas.geometry.triangles import face_normals

__all__ = ["N_SAMPLES", "F_THRESHOLDS", "CORRESPONDENCE_TARGETS", "frame_normalisation",
           "sample_mesh", "directed_distances", "chamfer_l2", "chamfer_l1", "f_score",
           "normal_consistency", "surface_metrics", "correspondence_error", "dynosurf_metrics",
           "dynosurf_report", "format_dynosurf_report"]

N_SAMPLES = 100_000
"""Points drawn uniformly on each surface per frame (DynoSurf: ``num_sample=100000``)."""
F_THRESHOLDS: tuple[float, ...] = (0.005, 0.01)
"""F-score thresholds in normalised units: 0.5 % and 1 % of the GT box's longest side
(DynoSurf's ``F[4]`` and ``F[9]`` of ``linspace(0.001, 1, 1000)``)."""
CORRESPONDENCE_TARGETS: tuple[str, ...] = ("surface", "vertices")
"""GT points the correspondence error tracks: ``surface`` = n samples of GT frame 0 carried to
every frame by their (face, barycentric) provenance (DynoSurf's ``pcl_seqs``); ``vertices`` =
the GT vertices."""


# --- normalisation and sampling -------------------------------------------------------------

def frame_normalisation(gt_vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """The protocol's normalisation of one frame, from its GT vertices ``(W, 3)``.

    Returns ``centre (3,)`` float64 (the centre of the vertices' axis-aligned bounding box, input
    units) and ``scale`` (its longest side, input units); a point x of the frame, GT or
    predicted, is normalised as ``(x - centre) / scale``.
    """
    v = np.asarray(gt_vertices, np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    scale = float((hi - lo).max())
    if not np.isfinite(scale) or scale <= 0.0:
        raise CatlasError(f"GT frame has a degenerate bounding box (longest side {scale:g}); "
                          "cannot normalise it")
    return (lo + hi) / 2.0, scale


def sample_mesh(vertices: np.ndarray, faces: np.ndarray, n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points drawn uniformly (by area) on a triangle mesh, with their faces' normals.

    vertices ``(V, 3)``, faces ``(F, 3)`` int; ``rng`` a numpy Generator. Returns points
    ``(n, 3)`` float64 in the vertices' units and normals ``(n, 3)`` float64, the unit normal of
    the face each point lies on (DynoSurf: ``mesh.sample`` + ``mesh.face_normals[idx]``). Points
    come from :func:`catlas.data.sampling.sample_surface`, placed again in float64.
    """
    faces = np.asarray(faces, np.int64)
    face_idx, bary = sample_surface(vertices, faces, n, rng)[1:]
    points = points_from_provenance(vertices, faces, face_idx, bary)
    return points, face_normals(vertices, faces)[0][face_idx]


# --- metrics on samples ----------------------------------------------------------------------

def directed_distances(source: np.ndarray, target: np.ndarray,
                       workers: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """For every point of ``source (n, 3)``, its nearest point of ``target (m, 3)``.

    Returns distances ``(n,)`` float64 (Euclidean, the points' units) and indices ``(n,)`` int64
    into ``target``. ``workers``: threads of the KD-tree query (-1: all cores).
    """
    dist, idx = cKDTree(np.asarray(target, np.float64)).query(
        np.asarray(source, np.float64), k=1, workers=workers)
    return dist, idx.astype(np.int64)


def chamfer_l2(accuracy: np.ndarray, completeness: np.ndarray) -> float:
    """Chamfer-L2 = 0.5 * (mean accuracy^2 + mean completeness^2), in units^2.

    accuracy ``(n,)``: distance of each predicted sample to the nearest GT sample; completeness
    ``(m,)``: of each GT sample to the nearest predicted sample (units). Squared distances, each
    direction a mean, the two halved (DynoSurf's ``chamfer-L2``).
    """
    a, c = np.asarray(accuracy, np.float64), np.asarray(completeness, np.float64)
    return float(0.5 * (np.mean(a * a) + np.mean(c * c)))


def chamfer_l1(accuracy: np.ndarray, completeness: np.ndarray) -> float:
    """Chamfer-L1 = 0.5 * (mean accuracy + mean completeness), in units (arguments as
    :func:`chamfer_l2`; DynoSurf's ``chamfer-L1``, not in its tables)."""
    return float(0.5 * (np.mean(accuracy) + np.mean(completeness)))


def f_score(accuracy: np.ndarray, completeness: np.ndarray, threshold: float) -> float:
    """F-score at ``threshold`` (units): the harmonic mean of precision and recall.

    precision = fraction of predicted samples whose ``accuracy (n,)`` distance is <= threshold;
    recall = fraction of GT samples whose ``completeness (m,)`` distance is <= threshold;
    F = 2 P R / (P + R), in [0, 1]. 0 when P = R = 0 (DynoSurf's code gives NaN there).
    """
    p = float(np.mean(np.asarray(accuracy) <= threshold))
    r = float(np.mean(np.asarray(completeness) <= threshold))
    return 0.0 if p + r == 0.0 else 2.0 * p * r / (p + r)


def normal_consistency(pred_normals: np.ndarray, gt_normals: np.ndarray,
                       accuracy_idx: np.ndarray, completeness_idx: np.ndarray) -> float:
    """Normal consistency in [0, 1] (1: every normal parallel to its match's).

    pred_normals ``(n, 3)``, gt_normals ``(m, 3)``: unit normals of the samples;
    accuracy_idx ``(n,)``: each predicted sample's nearest GT sample; completeness_idx ``(m,)``:
    each GT sample's nearest predicted sample. Per direction, the mean *absolute* cosine between a
    sample's normal and its match's (so orientation and winding do not count); the two directions
    averaged (DynoSurf's ``normals``).
    """
    pn, gn = np.asarray(pred_normals, np.float64), np.asarray(gt_normals, np.float64)
    acc = np.abs(np.einsum("ij,ij->i", pn, gn[accuracy_idx])).mean()
    comp = np.abs(np.einsum("ij,ij->i", gn, pn[completeness_idx])).mean()
    return float(0.5 * (acc + comp))


def surface_metrics(pred_points: np.ndarray, pred_normals: np.ndarray, gt_points: np.ndarray,
                    gt_normals: np.ndarray, thresholds=F_THRESHOLDS,
                    workers: int = -1) -> dict[str, float | np.ndarray]:
    """All surface metrics of one frame from its samples (one KD-tree query per direction).

    pred_points, pred_normals ``(n, 3)``; gt_points, gt_normals ``(m, 3)``; thresholds ``(T,)``
    in the points' units. Returns ``chamfer_l2`` (units^2), ``chamfer_l1`` (units),
    ``normal_consistency``, ``f_score`` ``(T,)``, ``accuracy`` and ``completeness`` (mean
    distances, units).
    """
    acc, acc_idx = directed_distances(pred_points, gt_points, workers)
    comp, comp_idx = directed_distances(gt_points, pred_points, workers)
    return {
        "chamfer_l2": chamfer_l2(acc, comp),
        "chamfer_l1": chamfer_l1(acc, comp),
        "normal_consistency": normal_consistency(pred_normals, gt_normals, acc_idx, comp_idx),
        "f_score": np.array([f_score(acc, comp, t) for t in thresholds], np.float64),
        "accuracy": float(acc.mean()),
        "completeness": float(comp.mean()),
    }


# --- correspondence ---------------------------------------------------------------------------

def _tracked_error(pred_vertices: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(K - 1,)`` mean distance between ``pred_vertices (K, V, 3)`` and their fixed GT targets
    ``(K, V, 3)`` at frames 1..K-1."""
    d = np.asarray(pred_vertices[1:], np.float64) - np.asarray(targets[1:], np.float64)
    return np.sqrt(np.einsum("kvi,kvi->kv", d, d)).mean(axis=1)


def correspondence_error(pred_vertices: np.ndarray, gt_points: np.ndarray,
                         workers: int = -1) -> np.ndarray:
    """DynoSurf's correspondence error of a mesh sequence with fixed connectivity, per frame.

    pred_vertices ``(K, V, 3)``: the reconstruction's vertices (vertex v is the same point of the
    surface in every frame); gt_points ``(K, N, 3)``: GT points with the same identity in every
    frame (point j of frame k is point j of frame 0, moved), in the same units. Each predicted
    vertex of frame 0 is matched to its nearest GT point of frame 0, once; the error of frame k
    is the mean Euclidean distance between the predicted vertices of frame k and their matched GT
    points of frame k. Returns ``(K - 1,)`` float64 for frames 1..K-1 (units); frame 0, where the
    match is made, is not scored (DynoSurf's ``eval_correspondences_mesh``).
    """
    pred = np.asarray(pred_vertices, np.float64)
    gt = np.asarray(gt_points, np.float64)
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[0] != gt.shape[0]:
        raise CatlasError(f"correspondence_error needs (K, V, 3) and (K, N, 3) arrays with the "
                          f"same K, got {pred.shape} and {gt.shape}")
    idx = directed_distances(pred[0], gt[0], workers)[1]
    return _tracked_error(pred, gt[:, idx])


# --- the protocol -----------------------------------------------------------------------------

def _check_mesh_sequence(name: str, vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray,
                                                                                       np.ndarray]:
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    if v.ndim != 3 or v.shape[0] < 1 or v.shape[2] != 3:
        raise CatlasError(f"{name} vertices must be (K, V, 3) with K >= 1, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
        raise CatlasError(f"{name} faces must be a non-empty (F, 3) integer array, got "
                          f"{f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= v.shape[1]:
        raise CatlasError(f"{name} faces index vertices outside [0, {v.shape[1] - 1}]")
    if not np.isfinite(v).all():
        raise CatlasError(f"{name} vertices hold NaN or inf")
    return v, f.astype(np.int64)


def dynosurf_metrics(pred_vertices: np.ndarray, pred_faces: np.ndarray, gt_vertices: np.ndarray,
                     gt_faces: np.ndarray, n_samples: int = N_SAMPLES, seed: int = 0,
                     thresholds=F_THRESHOLDS, correspondence: str = "surface",
                     workers: int = -1) -> dict:
    """Score a reconstructed mesh sequence against GT meshes with DynoSurf's protocol.

    pred_vertices ``(K, V, 3)`` with pred_faces ``(F, 3)``: the reconstruction, one connectivity
    for all frames, vertex v the same surface point in every frame; gt_vertices ``(K, W, 3)``
    with gt_faces ``(G, 3)``: the GT meshes, one connectivity (needed for the correspondence
    error), in the same units as the prediction (any units). Frame k of both is normalised with
    GT frame k's bounding box (:func:`frame_normalisation`: centre at 0, longest side 1); then
    ``n_samples`` points are drawn uniformly on each surface, fresh for every frame, from
    ``seed``. ``thresholds`` ``(T,)``: F-score thresholds in normalised units.
    ``correspondence``: the GT points the correspondence error tracks
    (:data:`CORRESPONDENCE_TARGETS`; ``surface`` = ``n_samples`` points of GT frame 0, as
    DynoSurf's data). ``workers``: KD-tree query threads (-1: all cores).

    Returns a dict; per-frame arrays (normalised units):

    * ``chamfer_l2`` ``(K,)`` units^2, ``chamfer_l1`` ``(K,)`` units, ``normal_consistency``
      ``(K,)`` in [0, 1], ``f_score`` ``(K, T)`` in [0, 1], ``accuracy`` and ``completeness``
      ``(K,)`` (mean distances, units);
    * ``correspondence`` ``(K - 1,)`` units, frames 1..K-1 (empty for K = 1);
    * ``mean``: the same names -> mean over frames (float; ``f_score`` ``(T,)``;
      ``correspondence`` NaN for K = 1);
    * ``thresholds`` ``(T,)``, ``centre`` ``(K, 3)`` and ``scale`` ``(K,)`` (each frame's
      normalisation, input units), ``n_samples``, ``seed``, ``correspondence_target``.
    """
    pred_v, pred_f = _check_mesh_sequence("predicted", pred_vertices, pred_faces)
    gt_v, gt_f = _check_mesh_sequence("GT", gt_vertices, gt_faces)
    if pred_v.shape[0] != gt_v.shape[0]:
        raise CatlasError(f"the prediction has {pred_v.shape[0]} frames and the GT "
                          f"{gt_v.shape[0]}; they must match")
    if correspondence not in CORRESPONDENCE_TARGETS:
        raise CatlasError(f"correspondence must be one of {', '.join(CORRESPONDENCE_TARGETS)}, "
                          f"got {correspondence!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise CatlasError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CatlasError(f"seed must be a non-negative integer, got {seed!r}")
    thresholds = np.asarray(thresholds, np.float64).reshape(-1)
    K = pred_v.shape[0]

    centre = np.empty((K, 3))
    scale = np.empty(K)
    for k in range(K):
        centre[k], scale[k] = frame_normalisation(gt_v[k])
    pred_n = (pred_v - centre[:, None]) / scale[:, None, None]
    gt_n = (gt_v - centre[:, None]) / scale[:, None, None]

    surface_seed, corr_seed = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(surface_seed)
    names = ("chamfer_l2", "chamfer_l1", "normal_consistency", "accuracy", "completeness")
    per_frame = {name: np.empty(K) for name in names}
    per_frame["f_score"] = np.empty((K, len(thresholds)))
    for k in range(K):
        try:
            gt_pts, gt_nrm = sample_mesh(gt_n[k], gt_f, n_samples, rng)
        except CatlasError as e:
            raise CatlasError(f"GT frame {k}: {e}") from None
        try:
            pred_pts, pred_nrm = sample_mesh(pred_n[k], pred_f, n_samples, rng)
        except CatlasError as e:
            raise CatlasError(f"predicted frame {k}: {e}") from None
        m = surface_metrics(pred_pts, pred_nrm, gt_pts, gt_nrm, thresholds, workers)
        for name in per_frame:
            per_frame[name][k] = m[name]

    if correspondence == "vertices":
        corr = correspondence_error(pred_n, gt_n, workers)
    else:
        # DynoSurf's pcl_seqs: samples of GT frame 0 carried to every frame by their provenance;
        # only the matched ones are placed on frames 1..K-1.
        face_idx, bary = sample_surface(gt_n[0], gt_f, n_samples,
                                        np.random.default_rng(corr_seed))[1:]
        gt0 = points_from_provenance(gt_n[0], gt_f, face_idx, bary)
        idx = directed_distances(pred_n[0], gt0, workers)[1]
        targets = points_from_provenance(gt_n, gt_f, face_idx[idx], bary[idx])
        corr = _tracked_error(pred_n, targets)

    mean = {name: float(per_frame[name].mean()) for name in names}
    mean["f_score"] = per_frame["f_score"].mean(axis=0)
    mean["correspondence"] = float(corr.mean()) if len(corr) else float("nan")
    return {**per_frame, "correspondence": corr, "mean": mean, "thresholds": thresholds,
            "centre": centre, "scale": scale, "n_samples": int(n_samples), "seed": seed,
            "correspondence_target": correspondence}


# --- a run's report (catlas eval --protocol dynosurf) ---------------------------------------

def dynosurf_report(surfaces: dict, gt_vertices: np.ndarray, gt_faces: np.ndarray,
                    seed: int = 0) -> dict:
    """The figures of ``eval/dynosurf.json``: :func:`dynosurf_metrics` of each named mesh
    sequence in ``surfaces`` (name -> ``(vertices (K, V, 3), faces (F, 3))``, in the same units
    as ``gt_vertices (K, W, 3)``, ``gt_faces (G, 3)``), means over frames plus the per-frame
    Chamfer-L2."""
    rows, m = {}, None
    for name, (vertices, faces) in surfaces.items():
        m = dynosurf_metrics(vertices, faces, gt_vertices, gt_faces, seed=seed)
        mean = m["mean"]
        rows[name] = {"chamfer_l2": mean["chamfer_l2"],
                      "f_score": {f"{t * 100:g}%": float(x) for t, x in zip(m["thresholds"], mean["f_score"])},
                      "normal_consistency": mean["normal_consistency"],
                      "correspondence": mean["correspondence"],
                      "per_frame_chamfer_l2": [float(x) for x in m["chamfer_l2"]]}
    return {"protocol": "dynosurf (docs/evaluation.md, 9)", "n_samples": m["n_samples"] if m else N_SAMPLES,
            "seed": seed, "correspondence_target": m["correspondence_target"] if m else "surface",
            "units": "each frame scaled to its GT bounding box's longest side 1; chamfer_l2 "
                     "x1e3 in the table, raw here", "surfaces": rows}


def format_dynosurf_report(report: dict) -> str:
    """The printed table of :func:`dynosurf_report` (Chamfer-L2 x1e3)."""
    lines = [f"{'surface':<44}{'CD-L2 (x1e3)':>13}{'F@0.5%':>9}{'F@1%':>9}{'NC':>8}{'corr':>9}"]
    for name, r in report["surfaces"].items():
        f = list(r["f_score"].values())
        lines.append(f"{name:<44}{r['chamfer_l2'] * 1e3:>13.4f}{f[0]:>9.4f}{f[1]:>9.4f}"
                     f"{r['normal_consistency']:>8.4f}{r['correspondence']:>9.4f}")
    return "\n".join(lines)
