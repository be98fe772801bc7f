"""Model stage: PointNet encoder, batched patch decoder with forward-mode Jacobian."""

from catlas.model.atlas import AtlasNetwork
from catlas.model.decoder import PatchDecoder
from catlas.model.encoder import PointNetEncoder

__all__ = ["AtlasNetwork", "PatchDecoder", "PointNetEncoder"]
