"""Metric-consistency loss L_mc (method.md 2.3)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["metric_consistency"]


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
