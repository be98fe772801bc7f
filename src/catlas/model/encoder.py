"""PointNet encoder without batch-norm: a point cloud -> one non-negative latent code."""

from __future__ import annotations

import torch
from torch import nn


class PointNetEncoder(nn.Module):
    """Per-point MLP 3 -> w1 -> ... -> C (ReLU between, none after C), max-pool over points,
    then Linear C->C, ReLU, Linear C->C, ReLU (docs/method.md, 2.1). The code is therefore >= 0.

    A per-point 1x1 Conv1d is the same map as a Linear on the last axis; Linear is used.
    """

    def __init__(self, code_dim: int = 1024, widths: tuple[int, ...] = (64, 128)) -> None:
        super().__init__()
        dims = (3, *widths, code_dim)
        self.point_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Sequential(
            nn.Linear(code_dim, code_dim), nn.ReLU(), nn.Linear(code_dim, code_dim), nn.ReLU()
        )
        self.code_dim = code_dim

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """points: (B, N, 3) -> codes: (B, C)."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"expected points of shape (B, N, 3), got {tuple(points.shape)}")
        h = points
        for layer in self.point_mlp[:-1]:
            h = torch.relu(layer(h))
        return self.head(_max_pooled_linear(h, self.point_mlp[-1]))


def _max_pooled_linear(h: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """max over points of layer(h): h (B, N, D) -> (B, C), same value and gradient as
    ``layer(h).amax(1)`` (up to ties), but cheaper.

    The (B, N, C) product is only needed to find each channel's maximising point, so it is
    computed without gradient; the pooled value is then recomputed from those B*C points, and
    the backward pass touches only them instead of the whole (B, N, C) product. The bias is
    constant over points, so it is added after pooling.
    """
    with torch.no_grad():
        # (B, C, N) layout so that the arg-max runs along contiguous memory
        idx = torch.matmul(layer.weight, h.transpose(1, 2)).argmax(dim=2)  # (B, C)
    rows = h.gather(1, idx[..., None].expand(-1, -1, h.shape[2]))  # (B, C, D)
    return (rows * layer.weight).sum(-1) + layer.bias
