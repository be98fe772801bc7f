"""DSR regularisers (deformation + total-area overlap terms; docs/method.md, 4.2)."""

from __future__ import annotations

import torch
from torch import Tensor

from catlas.geometry.metric import area_element, det_metric

__all__ = ["dsr_terms", "dsr_loss", "DSR_EPS", "DSR_W_E", "DSR_W_G", "DSR_W_SKEW", "DSR_W_STRETCH",
           "DSR_W_TOTAL_AREA", "DSR_TOTAL_AREA_MULT"]

#: epsilon added to A^2 in the denominators of the deformation terms.
DSR_EPS = 1e-20

# The DSR baseline's fixed weights of its terms (the paper's ``alphas_sciso``); the one DSR
# setting users set is the global weight, loss.alpha_dsr.
DSR_W_E = 1.0
"""Weight of the E term (E pulled to its batch mean)."""
DSR_W_G = 1.0
"""Weight of the G term (G pulled to its batch mean)."""
DSR_W_SKEW = 1.0
"""Weight of the skew term (F pulled to 0)."""
DSR_W_STRETCH = 0.0
"""Weight of the stretch term (E pulled to G); off in the paper."""
DSR_W_TOTAL_AREA = 100.0
"""Weight of the total-area overlap term."""
DSR_TOTAL_AREA_MULT = 1.0
"""Factor on a frame's GT surface area before it bounds the patches' total area."""


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
    w_e: float = DSR_W_E,
    w_g: float = DSR_W_G,
    w_skew: float = DSR_W_SKEW,
    w_stretch: float = DSR_W_STRETCH,
    w_total_area: float = DSR_W_TOTAL_AREA,
) -> Tensor:
    """Weighted sum of :func:`dsr_terms` (before the global weight, loss.alpha_dsr).

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
