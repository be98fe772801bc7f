"""The loss of one step for each method: mca, atlasnet and dsr differ only here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from catlas.config import LossConfig
from catlas.geometry.metric import first_fundamental_form
from catlas.losses.chamfer import chamfer_distance
from catlas.losses.dsr import DSR_TOTAL_AREA_MULT, dsr_loss, dsr_terms
from catlas.losses.metric_consistency import cross_pair_metric_consistency, metric_consistency
from catlas.losses.ssc import self_supervised_correspondence
from catlas.losses.surface_motion import surface_motion


class RigidCopies(NamedTuple):
    """The rigidly moved copies of a step's frames (loss.alpha_ssc): xyz (B, S-1, P, M, 3) their
    decoded points at the step's uv samples; rot (B, S, 3, 3), trans (B, S, 3) the transforms
    (copy 0, the identity, is the frame itself)."""

    xyz: torch.Tensor
    rot: torch.Tensor
    trans: torch.Tensor


@dataclass(frozen=True)
class ActiveTerms:
    """Which of the scheduled loss terms a step may use (the schedule of one run, at one step).

    pairs: the step has two frames (metric, motion terms);
    cross: the step is past loss.cross_from of the run (cross-pair metric term).
    A term also needs its method and a weight > 0; the default is every scheduled term allowed."""

    pairs: bool = True
    cross: bool = True

    @classmethod
    def at(cls, cfg: LossConfig, n_frames: int, iteration: int, iterations: int) -> ActiveTerms:
        """The terms allowed at step ``iteration`` of ``iterations`` of a fit of ``n_frames``."""
        return cls(pairs=n_frames > 1,
                   cross=iteration >= int(cfg.cross_from * iterations))


ALL_TERMS = ActiveTerms()


def needs_jacobian(cfg: LossConfig, active: ActiveTerms = ALL_TERMS) -> bool:
    """Whether a step of this method needs the atlas' Jacobian (mca: only while its metric
    terms have pairs and a weight; dsr: only with a weight; with alpha_mc = 0 or alpha_dsr = 0
    a step costs what an atlasnet step does)."""
    return _metric_term_on(cfg, active) or _cross_term_on(cfg, active) or _dsr_terms_on(cfg)


def _metric_term_on(cfg: LossConfig, active: ActiveTerms) -> bool:
    return cfg.method == "mca" and active.pairs and cfg.alpha_mc > 0


def _cross_term_on(cfg: LossConfig, active: ActiveTerms) -> bool:
    return cfg.method == "mca" and active.pairs and active.cross and cfg.alpha_mc_cross > 0


def _dsr_terms_on(cfg: LossConfig) -> bool:
    return cfg.method == "dsr" and cfg.alpha_dsr > 0


def jacobian_samples(cfg: LossConfig, per_patch: int, n_patches: int,
                     active: ActiveTerms = ALL_TERMS) -> int:
    """UV samples per patch at which a step needs the Jacobian (0 = none)."""
    if not needs_jacobian(cfg, active):
        return 0
    if cfg.metric_samples is None:
        return per_patch
    return max(1, min(per_patch, cfg.metric_samples // n_patches))


def _given(t: torch.Tensor | None) -> torch.Tensor:
    """The Jacobian (or metric) a term needs; None here means the caller asked for too few samples."""
    assert t is not None, "this term needs the Jacobian (see jacobian_samples)"
    return t


def _whole(t: torch.Tensor, gather: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """The whole batch of ``t`` (B, ...): ``t`` itself in a single process."""
    return t if gather is None else gather(t)


def _add_term(loss: torch.Tensor, terms: dict[str, torch.Tensor], name: str, weight: float, on: bool,
              value: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``loss + weight * value()`` when ``on`` (else ``loss``); logs the term as ``terms[name]``
    (detached; 0 while off, so losses.csv keeps its columns)."""
    if not on:
        terms[name] = torch.zeros((), device=loss.device)
        return loss
    v = value()
    terms[name] = v.detach()
    return loss + weight * v


def step_loss(
    xyz: torch.Tensor,
    jac: torch.Tensor | None,
    clouds: torch.Tensor,
    cfg: LossConfig,
    target_area: torch.Tensor | None = None,
    active: ActiveTerms = ALL_TERMS,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    copies: RigidCopies | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its named terms (detached) for one batch.

    xyz: (B, P, S, 3) decoded points, frames laid out as pairs [i1, j1, i2, j2, ...];
    jac: (B, P, S, 3, 2) or None; clouds: (B, N, 3) the target clouds;
    target_area: (B,) surface area per frame (dsr only), normalised units;
    active: the scheduled terms allowed this step (:class:`ActiveTerms`). A term of the method
    that is off this step is logged as 0, so losses.csv keeps its columns.
    gather: data-parallel only: the whole batch's tensor (concatenated over processes, with
    autograd) from this process' share; the cross-pair term compares frames of every process.
    copies: the frames' rigid copies (:class:`RigidCopies`), needed with loss.alpha_ssc > 0; the
    other terms see only the frames themselves.
    """
    B = xyz.shape[0]
    cd = chamfer_distance(xyz.reshape(B, -1, 3), clouds, trim=cfg.input_trim, pred_trim=cfg.surface_trim)
    terms: dict[str, torch.Tensor] = {"chamfer": cd.detach()}
    loss = cd
    if cfg.method == "mca":
        fff = first_fundamental_form(jac) if jac is not None else None
        # the metric term's column is always logged (0 with one frame or alpha_mc=0)
        loss = _add_term(loss, terms, "metric_consistency", cfg.alpha_mc, _metric_term_on(cfg, active),
                         lambda: metric_consistency(_given(fff)[0::2], _given(fff)[1::2]))
        if cfg.alpha_mc_cross > 0:  # the options: a logged column only when weighted, 0 while off
            loss = _add_term(loss, terms, "metric_cross", cfg.alpha_mc_cross,
                             _cross_term_on(cfg, active),
                             lambda: cross_pair_metric_consistency(_whole(_given(fff), gather)))
    elif _dsr_terms_on(cfg):
        assert jac is not None and target_area is not None
        parts = dsr_terms(first_fundamental_form(jac), target_area * DSR_TOTAL_AREA_MULT)
        reg = dsr_loss(parts)
        terms.update({f"dsr_{k}": v.detach() for k, v in parts.items()})
        loss = loss + cfg.alpha_dsr * reg
    if cfg.motion_weight() > 0:
        loss = _add_term(loss, terms, "motion", cfg.motion_weight(), active.pairs, lambda: surface_motion(xyz[0::2], xyz[1::2]))
    if cfg.alpha_ssc > 0:  # any method; a logged column only when weighted
        c = _given(copies)
        loss = _add_term(loss, terms, "ssc", cfg.alpha_ssc, True, lambda: self_supervised_correspondence(
            torch.cat((xyz[:, None], c.xyz), dim=1).flatten(2, 3), clouds, c.rot, c.trans))
    terms["loss"] = loss.detach()
    return loss, terms
