"""Self-supervised correspondence loss L_ssc with random rigid copies (docs/method.md, 3.5).

The atlas should move with the object: if a frame's cloud is rotated and shifted, the point
that UV sample m decodes to should be rotated and shifted with it. Each frame of a step is
also encoded in S - 1 rigidly moved copies; the un-moved reconstruction registers each of its
points to the nearest input point, and the moved copies are pulled towards that input point,
moved the same way.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from catlas.losses.chamfer import nearest_neighbors

__all__ = ["random_rigid_copies", "rotation_about_axis", "rigid_apply", "self_supervised_correspondence"]

_ANGLE_MARGIN = 0.001
"""The random angles of the copies s >= 1 are drawn from U(margin, 2 pi - margin): none is
(almost) the identity."""


def rotation_about_axis(axis: Tensor, angle: Tensor) -> Tensor:
    """Rotation matrices by ``angle`` about the unit ``axis`` (Rodrigues' formula).

    Args:
        axis: ``(..., 3)`` unit vectors.
        angle: ``(...)`` angles in radians (right-handed about ``axis``).

    Returns:
        ``(..., 3, 3)`` rotation matrices R (a point x moves to R x).
    """
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*axis.shape[:-1], 3, 3)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand_as(k)
    return eye + s * k + (1.0 - c) * (k @ k)


def random_rigid_copies(n: int, copies: int, translation: float, generator: torch.Generator | None = None,
                        dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """S = ``copies`` rigid transforms for each of ``n`` frame pairs; copy 0 is the identity.

    Per pair: one rotation axis uniform on the upper hemisphere (y up: theta ~ U[0, 2 pi),
    phi = arccos U[0, 1] from the y axis), S angles (the first 0, the others
    U(0.001, 2 pi - 0.001)) and S translations (the first 0, the others U[-t, t] per axis).
    Both frames of a pair are to get the same S transforms, applied about the origin.
    Drawn on the CPU from ``generator``.

    Args:
        n: pairs.
        copies: S >= 1, the identity included.
        translation: t >= 0, half-width of the uniform translation per axis (normalised units).

    Returns:
        rot: ``(n, S, 3, 3)``; trans: ``(n, S, 3)``. Copy s maps x to rot[:, s] x + trans[:, s].
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    theta = 2.0 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    phi = torch.arccos(torch.rand(n, generator=generator, dtype=torch.float64))
    axis = torch.stack((torch.sin(phi) * torch.cos(theta), torch.cos(phi), torch.sin(phi) * torch.sin(theta)), -1)
    u = torch.rand(n, copies, generator=generator, dtype=torch.float64)
    angle = _ANGLE_MARGIN + (2.0 * math.pi - 2.0 * _ANGLE_MARGIN) * u
    angle[:, 0] = 0.0
    trans = translation * (2.0 * torch.rand(n, copies, 3, generator=generator, dtype=torch.float64) - 1.0)
    trans[:, 0] = 0.0
    rot = rotation_about_axis(axis[:, None].expand(n, copies, 3), angle)
    return rot.to(dtype), trans.to(dtype)


def rigid_apply(points: Tensor, rot: Tensor, trans: Tensor) -> Tensor:
    """Every copy of every cloud: R_s x + t_s.

    Args:
        points: ``(B, N, 3)``.
        rot: ``(B, S, 3, 3)``; trans: ``(B, S, 3)``.

    Returns:
        ``(B, S, N, 3)``.
    """
    return points[:, None] @ rot.transpose(-1, -2) + trans[:, :, None, :]


def self_supervised_correspondence(pred: Tensor, target: Tensor, rot: Tensor, trans: Tensor) -> Tensor:
    """L_ssc = mean over (b, s = 1..S-1, m) of |y^{b,s}_m - (R_s x^b_{n*(m)} + t_s)|^2.

    n*(m) = argmin_n |y^{b,0}_m - x^b_n|: each point of the un-moved reconstruction (copy 0)
    registered to its nearest input point. The argmin carries no gradient and the targets
    R_s x + t_s are constants, so the gradient reaches only the moved copies ``pred[:, 1:]``
    (``pred[:, 0]`` gets none). Point m must be the same UV sample in every copy.

    Args:
        pred: ``(B, S, M, 3)`` decoded points of the S copies of each frame; copy 0 is the
            reconstruction of the input cloud itself, copy s that of its moved copy.
        target: ``(B, N, 3)`` the input cloud x of each frame (un-moved).
        rot: ``(B, S, 3, 3)`` rotations R_s (rot[:, 0] is not used).
        trans: ``(B, S, 3)`` translations t_s (trans[:, 0] is not used).

    Returns:
        scalar tensor, squared normalised units.
    """
    if pred.dim() != 4 or pred.shape[-1] != 3 or pred.shape[1] < 2:
        raise ValueError(f"expected pred of shape (B, S, M, 3) with S >= 2, got {tuple(pred.shape)}")
    B, S = pred.shape[:2]
    if target.dim() != 3 or target.shape[0] != B or target.shape[-1] != 3:
        raise ValueError(f"expected target of shape ({B}, N, 3), got {tuple(target.shape)}")
    if rot.shape != (B, S, 3, 3) or trans.shape != (B, S, 3):
        raise ValueError(f"expected rot ({B}, {S}, 3, 3) and trans ({B}, {S}, 3), got "
                         f"{tuple(rot.shape)}, {tuple(trans.shape)}")
    with torch.no_grad():
        _, idx = nearest_neighbors(pred[:, 0], target)  # (B, M)
        x = target.gather(1, idx[..., None].expand(-1, -1, 3))  # (B, M, 3)
        goal = rigid_apply(x, rot[:, 1:], trans[:, 1:])  # (B, S-1, M, 3)
    d = pred[:, 1:] - goal.to(pred.dtype)
    return (d * d).sum(-1).mean()
