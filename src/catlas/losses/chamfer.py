"""Chamfer distance with squared distances, each direction averaged separately (method.md 2.2)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["nearest_neighbors", "chamfer_distance", "chamfer_distance_reference"]


def _check_clouds(a: Tensor, b: Tensor) -> None:
    if a.dim() != 3 or b.dim() != 3 or a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"expected (B, M, 3) and (B, N, 3), got {tuple(a.shape)}, {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"batch sizes differ: {a.shape[0]} vs {b.shape[0]}")
    if b.shape[1] == 0:
        raise ValueError("target cloud is empty")


def nearest_neighbors(a: Tensor, b: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """For every point of ``a`` its nearest point in ``b`` (brute force, chunked over M).

    The argmin is computed without gradient on ``(B, chunk, N)`` blocks, so memory stays
    bounded; the squared distance is then recomputed as ``|a - b[idx]|^2`` so that its
    gradient is exact and reaches both ``a`` and ``b``.

    Args:
        a: ``(B, M, 3)`` query points.
        b: ``(B, N, 3)`` reference points.
        chunk: rows of ``a`` per block.

    Returns:
        sq_dist: ``(B, M)`` squared distance to the nearest neighbour.
        idx: ``(B, M)`` int64 index into ``b``'s dim 1.
    """
    _check_clouds(a, b)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    B, M, _ = a.shape
    with torch.no_grad():
        ad = a.detach()
        bd = b.detach()
        b_sq = (bd * bd).sum(-1)  # (B, N)
        idx_parts = []
        for s in range(0, M, chunk):
            ac = ad[:, s : s + chunk]  # (B, c, 3)
            # |a|^2 is constant per row and does not change the argmin.
            d = torch.baddbmm(b_sq[:, None, :], ac, bd.transpose(1, 2), alpha=-2.0)
            idx_parts.append(d.argmin(dim=-1))
        idx = torch.cat(idx_parts, dim=1) if idx_parts else a.new_zeros((B, 0), dtype=torch.int64)
    nn_pts = b.gather(1, idx[..., None].expand(-1, -1, 3))
    sq_dist = ((a - nn_pts) ** 2).sum(-1)
    return sq_dist, idx


def chamfer_distance(pred: Tensor, target: Tensor, chunk: int = 4096) -> Tensor:
    """L_CD = mean_{b,m} min_n |y_bm - x_bn|^2 + mean_{b,n} min_m |x_bn - y_bm|^2.

    Args:
        pred: ``(B, M, 3)`` predicted points y.
        target: ``(B, N, 3)`` target cloud x.
        chunk: block size passed to :func:`nearest_neighbors`.

    Returns:
        scalar tensor.
    """
    d_pt, _ = nearest_neighbors(pred, target, chunk)
    d_tp, _ = nearest_neighbors(target, pred, chunk)
    return d_pt.mean() + d_tp.mean()


def chamfer_distance_reference(pred: Tensor, target: Tensor) -> Tensor:
    """Dense reference of :func:`chamfer_distance` from a full ``(B, M, N)`` torch.cdist matrix.

    For tests only (memory O(B M N)).

    Args:
        pred: ``(B, M, 3)``.
        target: ``(B, N, 3)``.

    Returns:
        scalar tensor.
    """
    _check_clouds(pred, target)
    d = torch.cdist(pred, target, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    return d.min(dim=2).values.mean() + d.min(dim=1).values.mean()
