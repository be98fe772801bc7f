"""Which frames go into a training step: pairs (i, j) with 0 < |i - j| <= tau (docs/method.md, 5.2), and
the paper's gradual sequence-growth curriculum (docs/method.md, 5.3) that decides where i may come from."""

from __future__ import annotations

import functools
import math

import torch


def sample_pairs(n_frames: int, n_pairs: int, tau: int, generator: torch.Generator,
                 weights: torch.Tensor | None = None,
                 partners: tuple[int, int] | None = None) -> torch.Tensor:
    """Frame indices (2 * n_pairs,) laid out [i1, j1, i2, j2, ...].

    i is uniform over the frames, or drawn with probabilities proportional to ``weights``
    (n_frames,) when given; j is uniform over the frames within tau of i, excluding i, from
    the whole sequence (as in the paper, even when the weights confine i to a window) or
    only from frames [lo, hi) = ``partners`` (which must hold every possible i and at least 2
    frames). With a single frame, j = i (there is nothing to pair; callers drop the pair term).
    """
    if n_frames < 1:
        raise ValueError("a sequence needs at least one frame")
    if weights is None:
        i = torch.randint(n_frames, (n_pairs,), generator=generator)
    else:
        i = torch.multinomial(weights, n_pairs, replacement=True, generator=generator)
    if n_frames == 1:
        return torch.stack((i, i), dim=1).reshape(-1)
    lo, hi = partners if partners is not None else (0, n_frames)
    if hi - lo < 2:
        raise ValueError(f"partners {partners} hold fewer than 2 frames")
    low = (i - tau).clamp(min=lo)
    high = (i + tau).clamp(max=hi - 1)
    n_candidates = high - low  # window size without i itself (always >= 1)
    r = (torch.rand(n_pairs, generator=generator) * n_candidates).long()
    j = low + r
    j = j + (j >= i).long()
    return torch.stack((i, j), dim=1).reshape(-1)


def sample_points(
    stored: torch.Tensor, frames: torch.Tensor, n_points: int, generator: torch.Generator
) -> torch.Tensor:
    """Draw n_points of each frame's stored points without replacement.

    stored: (K, S, 3); frames: (B,) -> (B, n_points, 3).
    """
    S = stored.shape[1]
    if n_points > S:
        raise ValueError(f"cannot draw {n_points} points from {S} stored per frame")
    order = torch.rand(len(frames), S, generator=generator).argsort(dim=1)[:, :n_points]
    return stored[frames[:, None], order]


class GrowingWindow:
    """The gradual sequence-growth curriculum (docs/method.md, 5.3): training starts on ``init`` frames in
    the middle of the sequence and grows the window one frame at a time, alternating sides,
    at evenly spaced iterations from ``start`` to ``end``; from then on every frame is used.

    Before the first growth the first frame of a pair is uniform over the window; afterwards
    frame f of the window is drawn with weight 1.2 * max(h) - h_f, where h counts the draws
    since the first growth (so newly added frames are visited most), uniform if all are 0.
    """

    def __init__(self, n_frames: int, init: int, start: int, end: int) -> None:
        self.n = n_frames
        self.init = max(1, min(init, n_frames))
        n_events = n_frames - self.init
        self.event_at = ([int(v) for v in torch.linspace(start, max(start, end), n_events).tolist()]
                         if n_events > 0 else [])
        self.first = self.n // 2 - self.init // 2
        self.bounds = [(self.first, self.first + self.init)]  # window after e growth events
        lo, hi = self.bounds[0]
        centre = self.n // 2
        for _ in range(n_events):
            left = (centre - lo) <= (hi - centre)
            if (left and lo == 0) or (not left and hi == self.n):
                left = not left
            lo, hi = (lo - 1, hi) if left else (lo, hi + 1)
            self.bounds.append((lo, hi))

    def window(self, iteration: int) -> tuple[int, int]:
        """Frames [lo, hi) in use at ``iteration`` (completed steps)."""
        events = sum(iteration >= at for at in self.event_at)
        return self.bounds[events]

    def started(self, iteration: int) -> bool:
        return bool(self.event_at) and iteration >= self.event_at[0]

    def weights(self, iteration: int, hits: torch.Tensor) -> torch.Tensor:
        """(n_frames,) float64 sampling weights of the first frame of a pair."""
        lo, hi = self.window(iteration)
        w = torch.zeros(self.n, dtype=torch.float64)
        if not self.started(iteration):
            w[lo:hi] = 1.0
            return w
        h = hits[lo:hi].double()
        v = 1.2 * h.max() - h
        w[lo:hi] = v if float(v.sum()) > 0 else torch.ones_like(v)
        return w


@functools.lru_cache(maxsize=8)
def growing_window(n_frames: int, iterations: int, init: int, start: float, end: float) -> GrowingWindow:
    """The curriculum for a run of ``iterations`` steps; ``start``/``end`` are fractions of it.
    Cached: the training step asks for it every step and gets the same (read-only) object."""
    return GrowingWindow(n_frames, init, math.floor(start * iterations), math.floor(end * iterations))
