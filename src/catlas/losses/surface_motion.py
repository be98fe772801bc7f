"""Surface-motion term L_motion: how far the same UV point moves between paired frames.

A catlas addition, not in the paper. Chamfer and metric consistency cannot tell apart two
assignments of UV to look-alike parts (a left and a right leg are near-isometric, so the
metric tensors agree either way); between frames i, j with |i - j| <= tau the true motion
of a surface point is small, so a small weight on the squared displacement breaks that tie
in favour of the assignment that follows the motion.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["surface_motion"]


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
