"""The atlas network: PointNet encoder -> latent code -> P patch MLPs (with Jacobians)."""

from __future__ import annotations

import torch
from torch import nn

from catlas.config import ModelConfig
from catlas.model.decoder import PatchDecoder
from catlas.model.encoder import PointNetEncoder


class AtlasNetwork(nn.Module):
    """Encoder + batched patch decoder; one instance serves mca, atlasnet and dsr alike."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = PointNetEncoder(cfg.code_dim, tuple(cfg.encoder_widths))
        self.decoder = PatchDecoder(cfg.n_patches, cfg.code_dim, cfg.resolved_decoder_widths())

    @property
    def n_patches(self) -> int:
        return self.cfg.n_patches

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """Codes (B, C) of frames whose clouds are points (B, N, 3)."""
        return self.encoder(points)

    def decode(
        self, codes: torch.Tensor, uv: torch.Tensor, jacobian: bool | int = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """codes: (B, C), uv: (P, S, 2) -> xyz (B, P, S, 3) and J or None.

        jacobian: False (no J), True (J at all S samples: (B, P, S, 3, 2)), or an int k < S
        (J at the first k samples of each patch only: (B, P, k, 3, 2)); the tangents then cost
        2k rows per patch and frame instead of 2S. The points are the same either way.
        """
        S = uv.shape[1]
        if isinstance(jacobian, bool) or jacobian >= S:
            return self.decoder(uv, codes, jacobian=bool(jacobian))
        if jacobian <= 0:
            return self.decoder(uv, codes, jacobian=False)
        xyz_j, jac = self.decoder(uv[:, :jacobian], codes, jacobian=True)
        xyz_rest, _ = self.decoder(uv[:, jacobian:], codes, jacobian=False)
        return torch.cat((xyz_j, xyz_rest), dim=2), jac

    def forward(
        self, points: torch.Tensor, uv: torch.Tensor, jacobian: bool | int = False,
        jacobian_frames: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """points: (B, N, 3), uv: (P, S, 2) -> see :meth:`decode`.

        jacobian_frames: J only for the first k of the B frames (None: all); the other frames are
        decoded without it (the points of all B frames are returned, J is (k, P, ., 3, 2)). One
        encoder pass for all B. Used for the rigid copies of loss.alpha_ssc."""
        codes = self.encode(points)
        if jacobian_frames is None or not jacobian or jacobian_frames >= codes.shape[0]:
            return self.decode(codes, uv, jacobian)
        xyz, jac = self.decode(codes[:jacobian_frames], uv, jacobian)
        xyz_rest, _ = self.decode(codes[jacobian_frames:], uv, False)
        return torch.cat((xyz, xyz_rest), dim=0), jac
