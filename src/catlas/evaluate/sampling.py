"""Evaluation-time surface sampling: collapsed-patch removal and even UV samples (docs/evaluation.md, 3).

First pass: every frame is decoded with all P patches at m = floor(n / P) even UV points and the
mean det g per patch is kept. For a pair, the kept patches are the union of both frames'
non-collapsed ones (all, if every patch collapses in both). Second pass: m' = floor(n / P')
even UV points per kept patch (the same set tiled to every patch). Every (frame, m) decode is
computed once and cached, so a pair costs only an array selection.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from catlas.geometry.metric import det_metric, first_fundamental_form
from catlas.geometry.uv import even_uv

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["MAX_RATIO", "cached_even_uv", "collapsed_patches", "kept_patches", "SurfaceSamples"]

MAX_RATIO = 1e-3
"""A patch collapses when its mean det g is below this fraction of the mean over patches."""


@lru_cache(maxsize=32)
def cached_even_uv(m: int, seed: int = 0) -> torch.Tensor:
    """:func:`catlas.geometry.uv.even_uv` (m,2), computed once per (m, seed) per process."""
    return even_uv(m, seed)


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

    run: a loaded :class:`~catlas.run.Run`; n_points: target points per shape (3125 in the paper);
    seed: seed of the even UV sets; batch: frames decoded per forward pass.
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
        """``(m, 2)`` even UV set shared by all patches."""
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
        """``(P,)`` mean det g per patch of ``frame`` (first pass)."""
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

        Returns Y_a (M',3), Y_b (M',3) normalised, kept (P,) bool and m' (M' = P' m').
        """
        kept = self.kept(a, b)
        m = self.per_patch(int(kept.sum()))
        return (self.points(a, m)[kept].reshape(-1, 3), self.points(b, m)[kept].reshape(-1, 3),
                kept, m)

    def layout(self, kept: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Patch index (M',) and uv (M',2) of every sample of :meth:`pair`'s order."""
        patches = np.flatnonzero(kept)
        uv = self.uv(m)
        return np.repeat(patches, m), np.tile(uv, (len(patches), 1))
