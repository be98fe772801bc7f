"""Surface-motion term L_motion: how far the same UV point moves between paired frames.

A catlas addition, not in the paper. Chamfer and metric consistency cannot tell apart two
assignments of UV to look-alike parts (a left and a right leg are near-isometric, so the
metric tensors agree either way); between frames i, j with |i - j| <= tau the true motion
of a surface point is small, so a small weight on the squared displacement breaks that tie
in favour of the assignment that follows the motion.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["surface_motion", "surface_acceleration"]


def surface_motion(xyz_a: Tensor, xyz_b: Tensor) -> Tensor:
    """Mean squared Euclidean distance between the same UV samples decoded in two frames.

    Args:
        xyz_a: ``(..., 3)`` points of frame a (normalised units).
        xyz_b: ``(..., 3)`` points of frame b at the same uv samples.

    Returns:
        scalar tensor, squared normalised units: mean over every leading index of |a - b|^2.
    """
    if xyz_a.shape != xyz_b.shape or xyz_a.shape[-1] != 3:
        raise ValueError(f"expected equal (..., 3) shapes, got {tuple(xyz_a.shape)}, {tuple(xyz_b.shape)}")
    d = xyz_a - xyz_b
    return (d * d).sum(-1).mean()


def surface_acceleration(xyz: Tensor) -> Tensor:
    """Mean squared second difference of the same UV samples over consecutive frames.

    Args:
        xyz: ``(T, ..., 3)`` points of T >= 3 consecutive frames at the same uv samples
            (normalised units, frames evenly spaced in time).

    Returns:
        scalar tensor, squared normalised units: mean over the T - 2 triplets and every other
        leading index of |x_t - 2 x_{t+1} + x_{t+2}|^2. Zero for any motion that is linear in
        time (a constant velocity), so it resists jitter of the UV assignment, not motion.
    """
    if xyz.dim() < 2 or xyz.shape[-1] != 3 or xyz.shape[0] < 3:
        raise ValueError(f"expected (T >= 3, ..., 3) points, got {tuple(xyz.shape)}")
    d = xyz[:-2] - 2.0 * xyz[1:-1] + xyz[2:]
    return (d * d).sum(-1).mean()
