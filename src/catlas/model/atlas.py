"""The atlas network: PointNet encoder -> latent code -> P patch MLPs (with Jacobians)."""

from __future__ import annotations

import torch
from torch import nn

from catlas.config import ModelConfig
from catlas.model.decoder import PatchDecoder
from catlas.model.encoder import PointNetEncoder


class AtlasNetwork(nn.Module):
    """Encoder + batched patch decoder; one instance serves ours, atlasnet and dsr alike."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = PointNetEncoder(cfg.code_dim, tuple(cfg.encoder_widths))
        self.decoder = PatchDecoder(cfg.n_patches, cfg.code_dim, cfg.resolved_decoder_widths())

    @property
    def n_patches(self) -> int:
        return self.cfg.n_patches

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """points: (B, N, 3) -> codes: (B, C)."""
        return self.encoder(points)

    def decode(
        self, codes: torch.Tensor, uv: torch.Tensor, jacobian: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """codes: (B, C), uv: (P, S, 2) -> xyz (B, P, S, 3), J (B, P, S, 3, 2) or None."""
        return self.decoder(uv, codes, jacobian=jacobian)

    def forward(
        self, points: torch.Tensor, uv: torch.Tensor, jacobian: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """points: (B, N, 3), uv: (P, S, 2) -> xyz (B, P, S, 3), J (B, P, S, 3, 2) or None."""
        return self.decode(self.encode(points), uv, jacobian)
