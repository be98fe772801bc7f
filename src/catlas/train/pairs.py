"""Which frames go into a training step: pairs (i, j) with 0 < |i - j| <= tau (spec 4.2)."""

from __future__ import annotations

import torch


def sample_pairs(n_frames: int, n_pairs: int, tau: int, generator: torch.Generator) -> torch.Tensor:
    """Frame indices (2 * n_pairs,) laid out [i1, j1, i2, j2, ...].

    i is uniform over the frames; j is uniform over the frames within tau of i, excluding i.
    With a single frame, j = i (there is nothing to pair; callers drop the pair term).
    """
    if n_frames < 1:
        raise ValueError("a sequence needs at least one frame")
    i = torch.randint(n_frames, (n_pairs,), generator=generator)
    if n_frames == 1:
        return torch.stack((i, i), dim=1).reshape(-1)
    low = (i - tau).clamp(min=0)
    high = (i + tau).clamp(max=n_frames - 1)
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
