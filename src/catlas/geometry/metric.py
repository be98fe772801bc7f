"""First fundamental form (metric tensor) of a parametric surface and derived quantities.

Conventions (docs/method.md, 2.4): a Jacobian ``J`` has shape ``(..., 3, 2)`` with rows x, y, z and
columns u, v; the first fundamental form ``fff`` has shape ``(..., 3)`` with last dim (E, F, G).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["first_fundamental_form", "area_element", "det_metric"]


def first_fundamental_form(J: Tensor) -> Tensor:
    """First fundamental form g = J^T J stored as (E, F, G).

    Args:
        J: ``(..., 3, 2)`` Jacobian d(x, y, z)/d(u, v).

    Returns:
        ``(..., 3)`` with E = |J_u|^2, F = J_u . J_v, G = |J_v|^2.
    """
    if J.shape[-2:] != (3, 2):
        raise ValueError(f"expected J of shape (..., 3, 2), got {tuple(J.shape)}")
    ju = J[..., :, 0]
    jv = J[..., :, 1]
    E = (ju * ju).sum(-1)
    F = (ju * jv).sum(-1)
    G = (jv * jv).sum(-1)
    return torch.stack((E, F, G), dim=-1)


def det_metric(fff: Tensor) -> Tensor:
    """Determinant of the metric tensor, det g = E G - F^2 (the squared area element).

    Args:
        fff: ``(..., 3)`` as (E, F, G).

    Returns:
        ``(...)``; unclamped, so it may be slightly negative through round-off.
    """
    E, F, G = fff.unbind(-1)
    return E * G - F * F


def area_element(fff: Tensor, eps: float = 1e-12) -> Tensor:
    """Local area element A = sqrt(max(E G - F^2, eps)).

    The determinant is clamped to ``eps`` (not 0) so that the gradient stays finite where the
    surface degenerates (docs/method.md, 4.2).

    Args:
        fff: ``(..., 3)`` as (E, F, G).
        eps: lower clamp of E G - F^2.

    Returns:
        ``(...)`` area element, >= sqrt(eps).
    """
    return det_metric(fff).clamp(min=eps).sqrt()

