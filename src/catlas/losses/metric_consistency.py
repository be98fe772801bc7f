"""Metric-consistency loss L_mc (docs/method.md, 3.2)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["cross_pair_metric_consistency", "metric_consistency"]


def metric_consistency(fff_a: Tensor, fff_b: Tensor) -> Tensor:
    """Squared Frobenius distance of two metric tensors, averaged over all samples.

    L_mc = mean[(E_a - E_b)^2 + 2 (F_a - F_b)^2 + (G_a - G_b)^2]; a plain mean over every
    leading index (pairs, patches, samples), no area normalisation.

    Args:
        fff_a: ``(..., 3)`` (E, F, G) of frame a.
        fff_b: ``(..., 3)`` (E, F, G) of frame b at the same uv samples.

    Returns:
        scalar tensor.
    """
    if fff_a.shape != fff_b.shape or fff_a.shape[-1] != 3:
        raise ValueError(f"expected equal (..., 3) shapes, got {tuple(fff_a.shape)}, {tuple(fff_b.shape)}")
    d = fff_a - fff_b
    d2 = d * d
    return (d2[..., 0] + 2.0 * d2[..., 1] + d2[..., 2]).mean()


def cross_pair_metric_consistency(fff: Tensor) -> Tensor:
    """L_mc between the frames of *different* pairs of a batch laid out [i1, j1, i2, j2, ...].

    A step's pairs are neighbours (|i - j| <= tau); their first frames are drawn independently,
    so frames of different pairs are usually far apart in the sequence. Comparing their metrics
    at the same uv samples ties distant frames together at no extra decoding cost (a catlas
    addition, loss.alpha_mc_cross). Mean of :func:`metric_consistency` over every frame a of one
    pair and b of a later pair ((B/2)(B/2 - 1) * 2 comparisons; 0 with a single pair).

    Args:
        fff: ``(B, ..., 3)`` (E, F, G) of the B frames of a step, B even, at the same uv samples.

    Returns:
        scalar tensor.
    """
    if fff.shape[0] % 2 or fff.shape[-1] != 3:
        raise ValueError(f"expected (B, ..., 3) with B even, got {tuple(fff.shape)}")
    b = fff.shape[0]
    across = [(a, c) for a in range(b) for c in range(b) if c // 2 > a // 2]  # pair of a < pair of c
    if not across:
        return fff.new_zeros(())
    a_idx, c_idx = (list(t) for t in zip(*across))
    return metric_consistency(fff[a_idx], fff[c_idx])
