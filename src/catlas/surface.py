"""The atlas surface of a fitted run: decoded samples, collapsed patches, and the map between frames.

One layer that evaluation, correspondences, export and rendering share (docs/evaluation.md, 3-4):

* **Samples** (:class:`SurfaceSamples`): every frame decoded at ``m = floor(n / P')`` even UV
  points per kept patch (the same UV set tiled to every patch), in the run's normalised units,
  cached per (frame, m).
* **Collapsed patches** (:func:`collapsed_patches`, :func:`kept_patches`,
  :func:`persistent_patches`): a patch whose mean det g is below ``MAX_RATIO`` x the mean over
  patches is left out (for a pair: only when it collapses in both frames; for a whole-sequence
  output: only when it collapses in every frame).
* **The map between frames** (:func:`map_to_frame`): a point of frame A -> its nearest surface
  sample of A -> that sample's (patch, uv) decoded in frame B -> (optionally) the nearest point of
  a target set of frame B. ``f_{A->B} = (nearest target of B) o atlas_B o atlas_A^{-1} o
  (nearest sample of A)``; atlas_A^{-1} is known on the samples, whose (patch, uv) is given by
  :meth:`SurfaceSamples.layout`.

Units: the samples are in the run's normalised units (``run.sequence.to_input_units(x, frames=k)``
converts frame k's); the map works in whatever single unit system its arguments share. det g is
in units^4.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.spatial import cKDTree

from catlas.geometry.metric import det_metric, first_fundamental_form
from catlas.geometry.uv import even_uv

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["MAX_RATIO", "MAX_POINTS", "cached_even_uv", "collapsed_patches", "kept_patches",
           "persistent_patches", "SurfaceSamples", "nearest", "map_to_frame"]

MAX_RATIO = 1e-3
"""A patch collapses when its mean det g is below this fraction of the mean over patches."""
MAX_POINTS = 100_000
"""Most surface points per shape (eval --points, correspond --samples): every frame's points are
decoded with Jacobians, eight frames at a time."""


# ----------------------------------------------------------------------------- UV samples

@lru_cache(maxsize=32)
def cached_even_uv(m: int, seed: int = 0) -> torch.Tensor:
    """:func:`catlas.geometry.uv.even_uv` ``(m, 2)`` in [0,1]^2, computed once per (m, seed) per
    process."""
    return even_uv(m, seed)


# ----------------------------------------------------------------------------- collapsed patches

def collapsed_patches(mean_det: np.ndarray, max_ratio: float = MAX_RATIO) -> np.ndarray:
    """``(P,)`` bool: a_p / (mean_p a_p + 1e-30) < max_ratio, a_p = mean det g of patch p (units^4)."""
    a = np.asarray(mean_det, np.float64)
    return a / (a.mean() + 1e-30) < max_ratio


def kept_patches(collapsed_a: np.ndarray, collapsed_b: np.ndarray) -> np.ndarray:
    """``(P,)`` bool: patches not collapsed in A or not collapsed in B; all when none survives."""
    keep = ~(np.asarray(collapsed_a, bool) & np.asarray(collapsed_b, bool))
    return keep if keep.any() else np.ones_like(keep)


class SurfaceSamples:
    """Per-frame even-UV samples of a run's atlas, in normalised units, decoded lazily and cached.

    First pass (:meth:`prepare`): every frame is decoded with all P patches at m = floor(n / P)
    even UV points and the mean det g per patch is kept. For a pair, the kept patches are the
    union of both frames' non-collapsed ones (all, if every patch collapses in both). Second pass
    (:meth:`pair`): m' = floor(n / P') even UV points per kept patch. Every (frame, m) decode is
    computed once and cached, so a pair costs only an array selection.

    run: a loaded :class:`~catlas.run.Run`; n_points: target points per shape n (3125 in the
    paper); seed: seed of the even UV sets; max_ratio: see :func:`collapsed_patches`; batch:
    frames decoded per forward pass.
    """

    def __init__(self, run: "Run", n_points: int = 3125, seed: int = 0,
                 max_ratio: float = MAX_RATIO, batch: int = 8) -> None:
        P = run.n_patches
        if n_points < P:
            raise ValueError(f"n_points ({n_points}) must be at least the number of patches ({P})")
        self.run, self.n_points, self.seed, self.max_ratio, self.batch = run, n_points, seed, max_ratio, batch
        self._xyz: dict[tuple[int, int], np.ndarray] = {}  # (frame, m) -> (P, m, 3)
        self._det: dict[int, np.ndarray] = {}  # frame -> (P,) mean det g

    @property
    def n_patches(self) -> int:
        return self.run.n_patches

    def per_patch(self, n_kept: int) -> int:
        """m = floor(n_points / n_kept) UV samples per patch."""
        return self.n_points // n_kept

    def uv(self, m: int) -> np.ndarray:
        """``(m, 2)`` even UV set in [0,1]^2 shared by all patches."""
        return cached_even_uv(m, self.seed).numpy()

    @torch.inference_mode()
    def prepare(self, frames: list[int] | None = None) -> None:
        """First pass for ``frames`` (default all): decode with Jacobians at m = floor(n/P)."""
        frames = list(range(self.run.n_frames)) if frames is None else frames
        todo = [f for f in dict.fromkeys(frames) if f not in self._det]
        m = self.per_patch(self.n_patches)
        uv = cached_even_uv(m, self.seed).to(self.run.device)
        uv = uv.expand(self.n_patches, -1, -1).contiguous()
        codes = self.run.codes()
        for start in range(0, len(todo), self.batch):
            chunk = todo[start : start + self.batch]
            xyz, jac = self.run.model.decode(codes[chunk], uv, jacobian=True)
            det = det_metric(first_fundamental_form(jac)).mean(dim=-1)  # (B, P)
            xyz_np = xyz.double().cpu().numpy()
            det_np = det.double().cpu().numpy()
            for b, f in enumerate(chunk):
                self._xyz[(f, m)] = xyz_np[b]
                self._det[f] = det_np[b]

    def mean_det(self, frame: int) -> np.ndarray:
        """``(P,)`` mean det g per patch of ``frame`` (first pass), normalised units^4."""
        if frame not in self._det:
            self.prepare([frame])
        return self._det[frame]

    def collapsed(self, frame: int) -> np.ndarray:
        """``(P,)`` bool collapsed patches of ``frame``."""
        return collapsed_patches(self.mean_det(frame), self.max_ratio)

    def kept(self, a: int, b: int) -> np.ndarray:
        """``(P,)`` bool patches kept for the pair (a, b)."""
        return kept_patches(self.collapsed(a), self.collapsed(b))

    @torch.inference_mode()
    def points(self, frame: int, m: int) -> np.ndarray:
        """``(P, m, 3)`` float64 normalised: all patches of ``frame`` at the even UV set of size m."""
        key = (frame, m)
        if key not in self._xyz:
            uv = cached_even_uv(m, self.seed).to(self.run.device).expand(self.n_patches, -1, -1)
            xyz, _ = self.run.model.decode(self.run.codes()[frame : frame + 1], uv.contiguous())
            self._xyz[key] = xyz[0].double().cpu().numpy()
        return self._xyz[key]

    def pair(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Samples of a pair with the same (patch, uv) order in both frames.

        Returns Y_a ``(M', 3)``, Y_b ``(M', 3)`` float64 normalised, kept ``(P,)`` bool and m'
        (M' = P' m').
        """
        kept = self.kept(a, b)
        m = self.per_patch(int(kept.sum()))
        return (self.points(a, m)[kept].reshape(-1, 3), self.points(b, m)[kept].reshape(-1, 3),
                kept, m)

    def layout(self, kept: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Patch index ``(M',)`` and uv ``(M', 2)`` in [0,1]^2 of every sample of :meth:`pair`'s
        order."""
        patches = np.flatnonzero(kept)
        uv = self.uv(m)
        return np.repeat(patches, m), np.tile(uv, (len(patches), 1))


def persistent_patches(run: "Run", n_points: int = 3125, progress: bool = False) -> np.ndarray:
    """``(P,)`` bool: patches kept for a whole-sequence output = not collapsed in at least one
    frame (the paper's rule per frame, at its evaluation sampling of ``n_points`` per shape); all
    if every patch collapses in every frame."""
    samples = SurfaceSamples(run, max(n_points, run.n_patches))
    chunks = [list(range(a, min(a + 8, run.n_frames))) for a in range(0, run.n_frames, 8)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=run.n_frames, desc="finding collapsed patches", unit="frame", leave=False)
    for chunk in chunks:
        samples.prepare(chunk)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    collapsed = np.stack([samples.collapsed(k) for k in range(run.n_frames)])  # (K, P)
    keep = ~collapsed.all(axis=0)
    return keep if keep.any() else np.ones_like(keep)


# ----------------------------------------------------------------------------- the map A -> B

def nearest(points: np.ndarray, target: np.ndarray | cKDTree) -> np.ndarray:
    """``(n,)`` int64: for each of ``points`` ``(n, 3)`` the index of the nearest row of
    ``target`` ``(T, 3)`` (or of the points of a prebuilt ``cKDTree``, reused across calls).
    Both in one unit system."""
    tree = target if isinstance(target, cKDTree) else cKDTree(target)
    return np.asarray(tree.query(points)[1], np.int64)


def map_to_frame(query: np.ndarray, samples_a: np.ndarray, samples_b: np.ndarray,
                 target: np.ndarray | cKDTree, sample: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The atlas map A -> B of points of frame A, discretised on surface samples, snapped to B.

    query: ``(n, 3)`` points of frame A; samples_a, samples_b: ``(M, 3)`` the same (patch, uv)
    samples decoded in frame A and in frame B (:meth:`SurfaceSamples.pair`); target: ``(T, 3)``
    points of frame B (or their cKDTree) the mapped samples snap to; sample: ``(n,)`` the nearest
    sample of A of each query point when already known (then ``query`` is not searched again).
    All in one unit system.

    Returns (target index ``(n,)`` int64, sample index ``(n,)`` int64): the nearest point of
    ``target`` to ``samples_b[sample]``, and the sample of A nearest to each query point (its
    (patch, uv) is :meth:`SurfaceSamples.layout` at that index).
    """
    s = nearest(query, samples_a) if sample is None else sample
    return nearest(samples_b[s], target), s
