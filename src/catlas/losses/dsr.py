"""DSR regularisers (deformation + total-area overlap terms; docs/method.md, 4.2)."""

from __future__ import annotations

import torch
from torch import Tensor

from catlas.geometry.metric import area_element, det_metric

__all__ = ["dsr_terms", "dsr_loss", "DSR_EPS"]

#: epsilon added to A^2 in the denominators of the deformation terms.
DSR_EPS = 1e-20


def dsr_terms(fff: Tensor, target_area: Tensor) -> dict[str, Tensor]:
    """The individual DSR loss terms.

    With A^2 = max(E G - F^2, 0), eps = 1e-20 and E_bar, G_bar the means of E, G over the
    whole batch (all shapes, patches and samples):

    - ``E``: mean[(E - E_bar)^2 / (A^2 + eps)]
    - ``G``: mean[(G - G_bar)^2 / (A^2 + eps)]
    - ``skew``: mean[F^2 / (A^2 + eps)]
    - ``stretch``: mean[(E - G)^2 / (A^2 + eps)]
    - ``total_area``: mean_b (relu(sum_p mean_k A_bpk - target_area_b))^2, with A the
      clamped area element of :func:`catlas.geometry.area_element`.

    Args:
        fff: ``(B, P, S, 3)`` (E, F, G) per shape, patch and sample.
        target_area: ``(B,)`` surface area of each target shape.

    Returns:
        dict of scalar tensors with keys ``E, G, skew, stretch, total_area``.
    """
    if fff.dim() != 4 or fff.shape[-1] != 3:
        raise ValueError(f"expected fff of shape (B, P, S, 3), got {tuple(fff.shape)}")
    if target_area.shape != fff.shape[:1]:
        raise ValueError(f"expected target_area of shape ({fff.shape[0]},), got {tuple(target_area.shape)}")
    E, F, G = fff.unbind(-1)
    denom = det_metric(fff).clamp(min=0.0) + DSR_EPS
    E_bar = E.mean()
    G_bar = G.mean()
    l_e = ((E - E_bar) ** 2 / denom).mean()
    l_g = ((G - G_bar) ** 2 / denom).mean()
    l_skew = (F * F / denom).mean()
    l_stretch = ((E - G) ** 2 / denom).mean()
    patch_area = area_element(fff).mean(dim=-1)  # (B, P)
    excess = torch.relu(patch_area.sum(dim=-1) - target_area.to(patch_area.dtype))
    l_area = (excess * excess).mean()
    return {"E": l_e, "G": l_g, "skew": l_skew, "stretch": l_stretch, "total_area": l_area}


def dsr_loss(
    terms: dict[str, Tensor],
    w_e: float = 1.0,
    w_g: float = 1.0,
    w_skew: float = 1.0,
    w_stretch: float = 0.0,
    w_total_area: float = 100.0,
) -> Tensor:
    """Weighted sum of :func:`dsr_terms` (before the global ``alpha_scaled_isometry``).

    Defaults are the paper's ``alphas_sciso`` (E 1, G 1, skew 1, stretch 0, total_area 100).

    Args:
        terms: output of :func:`dsr_terms`.

    Returns:
        scalar tensor.
    """
    return (
        w_e * terms["E"]
        + w_g * terms["G"]
        + w_skew * terms["skew"]
        + w_stretch * terms["stretch"]
        + w_total_area * terms["total_area"]
    )
