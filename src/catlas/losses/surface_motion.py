"""Surface-motion term L_motion: how far the same UV point moves between paired frames.

A catlas addition, not in the paper. Chamfer and metric consistency cannot tell apart two
assignments of UV to look-alike parts (a left and a right leg are near-isometric, so the
metric tensors agree either way); between frames i, j with |i - j| <= tau the true motion
of a surface point is small, so a small weight on the squared displacement breaks that tie
in favour of the assignment that follows the motion.
"""

from __future__ import annotations

from torch import Tensor

from catlas.geometry.metric import unit_normal

__all__ = ["surface_motion", "normal_motion", "graded_motion"]


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


def normal_motion(xyz_a: Tensor, xyz_b: Tensor, jac_a: Tensor, jac_b: Tensor) -> Tensor:
    """The part of :func:`surface_motion` across the surface: the squared displacement along
    each frame's unit normal (normals held fixed, no gradient), averaged over both frames.

    A slide of the parameterisation along the surface moves a sample tangentially, which the
    full term penalises as if it were motion and so biases the fit towards a lagging
    parameterisation; this variant leaves tangential displacement free.

    Args:
        xyz_a, xyz_b: ``(B, P, S, 3)`` the same uv samples decoded in frames a and b; only the
            first k samples of each patch are used.
        jac_a, jac_b: ``(B, P, k, 3, 2)`` the atlas' Jacobians at those k samples.

    Returns:
        scalar tensor, squared normalised units.
    """
    if (xyz_a.shape != xyz_b.shape or jac_a.shape != jac_b.shape or xyz_a.ndim != 4 or xyz_a.shape[-1] != 3
            or jac_a.shape[:2] != xyz_a.shape[:2] or jac_a.shape[3:] != (3, 2) or jac_a.shape[2] > xyz_a.shape[2]):
        raise ValueError(f"expected xyz (B, P, S, 3) and jac (B, P, k <= S, 3, 2) alike for both frames, got "
                         f"{tuple(xyz_a.shape)}, {tuple(xyz_b.shape)}, {tuple(jac_a.shape)}, {tuple(jac_b.shape)}")
    k = jac_a.shape[2]
    d = xyz_a[:, :, :k] - xyz_b[:, :, :k]
    n_a = unit_normal(jac_a.detach())
    n_b = unit_normal(jac_b.detach())
    return 0.5 * (((d * n_a).sum(-1) ** 2).mean() + ((d * n_b).sum(-1) ** 2).mean())


def graded_motion(xyz_a: Tensor, xyz_b: Tensor, jac_a: Tensor, jac_b: Tensor, tangent: float) -> Tensor:
    """The surface-motion term with the tangential part at a fraction of the normal part:
    ``(1 - tangent) * normal_motion + tangent * surface_motion``, i.e. per sample
    ``|d_n|^2 + tangent * |d_t|^2`` in expectation (the normal part on the Jacobian's first k
    samples, the full term on all S). ``tangent`` 0 is :func:`normal_motion`, 1 the full term.

    Args:
        xyz_a, xyz_b: ``(B, P, S, 3)`` as in :func:`normal_motion`.
        jac_a, jac_b: ``(B, P, k, 3, 2)``.
        tangent: weight of the tangential part relative to the normal part, in [0, 1].

    Returns:
        scalar tensor, squared normalised units.
    """
    if not 0.0 <= tangent <= 1.0:
        raise ValueError(f"tangent must be in [0, 1], got {tangent}")
    normal = normal_motion(xyz_a, xyz_b, jac_a, jac_b)
    if tangent == 0.0:
        return normal
    return (1.0 - tangent) * normal + tangent * surface_motion(xyz_a, xyz_b)
