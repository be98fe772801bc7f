"""A finished (or interrupted) fit on disk: config + sequence + weights; decode any frame."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from catlas.config import FitConfig
from catlas.correspond import Correspondence
from catlas.correspond import correspond as correspond_points
from catlas.data import Sequence
from catlas.device import resolve_device
from catlas.errors import CatlasError
from catlas.geometry.uv import grid_faces, grid_uv, to_texture_uv
from catlas.model import AtlasNetwork
from catlas.runfiles import CONFIG, MESH_DIR, SEQUENCE, SUMMARY
from catlas.train.checkpoint import load_checkpoint, load_snapshot

__all__ = ["CONFIG", "SEQUENCE", "SUMMARY", "MESH_DIR", "resolve_device", "AtlasMesh", "Run", "load_run"]


@dataclass
class AtlasMesh:
    """All patches' UV grids as one triangle mesh; connectivity is the same for every frame."""

    vertices: np.ndarray  # (P * R * R, 3) in the input's units
    faces: np.ndarray  # (P * 2 * (R-1)^2, 3) int64
    texcoords: np.ndarray  # (P * R * R, 2), each patch in its own tile of the unit square
    patch: np.ndarray  # (P * R * R,) patch index of each vertex


class Run:
    """A run folder loaded for inference (see :func:`load_run`)."""

    def __init__(self, path: Path, config: FitConfig, sequence: Sequence,
                 model: AtlasNetwork, iteration: int) -> None:
        self.path, self.config, self.sequence, self.model = path, config, sequence, model
        self.iteration = iteration
        self._codes: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def n_frames(self) -> int:
        return self.sequence.n_frames

    @property
    def n_patches(self) -> int:
        return self.config.model.n_patches

    @torch.inference_mode()
    def codes(self) -> torch.Tensor:
        """(K, C) latent code of every frame, from its first ``data.encoded_points()`` stored points."""
        if self._codes is None:
            n = self.config.data.encoded_points()
            pts = torch.as_tensor(self.sequence.points[:, :n], device=self.device)
            self._codes = torch.cat([self.model.encode(chunk) for chunk in pts.split(8)])
        return self._codes

    def _check_frame(self, frame: int) -> int:
        if not -self.n_frames <= frame < self.n_frames:
            raise CatlasError(f"{self.path}: frame {frame} out of range (the run has {self.n_frames} frames)")
        return frame % self.n_frames

    @torch.inference_mode()
    def decode(self, frame: int, uv: np.ndarray | torch.Tensor, input_units: bool = True) -> np.ndarray:
        """Surface points of ``frame`` at uv (P, S, 2) (every patch its own UV set) -> (P, S, 3).

        Coordinates are in the input's units unless ``input_units`` is False (normalised units).
        """
        frame = self._check_frame(frame)
        uv_t = torch.as_tensor(uv).to(dtype=torch.float32, device=self.device)
        if uv_t.dim() != 3 or uv_t.shape[0] != self.n_patches or uv_t.shape[2] != 2:
            raise ValueError(f"uv must have shape ({self.n_patches}, S, 2), got {tuple(uv_t.shape)}")
        xyz, _ = self.model.decode(self.codes()[frame : frame + 1], uv_t)
        out = xyz[0].cpu().numpy()
        return self.sequence.to_input_units(out, frames=frame) if input_units else out

    def mesh(self, frame: int, resolution: int | None = None, input_units: bool = True) -> AtlasMesh:
        """The frame's surface: each patch a triangulated R x R UV grid (same faces every frame)."""
        r = self.config.train.mesh_resolution if resolution is None else resolution
        P = self.n_patches
        uv = grid_uv(r).expand(P, -1, -1)  # (P, R*R, 2)
        xyz = self.decode(frame, uv, input_units).reshape(-1, 3)
        f = grid_faces(r).numpy()
        faces = np.concatenate([f + p * r * r for p in range(P)])
        tex = to_texture_uv(uv).reshape(-1, 2).numpy()
        patch = np.repeat(np.arange(P), r * r)
        return AtlasMesh(xyz, faces, tex, patch)

    def correspond(self, i: int, j: int, points: np.ndarray | None = None,
                   n_samples: int = 3125) -> Correspondence:
        """Map points of frame i to frame j's stored cloud through the atlas.

        points: (n,3) in input units (default: frame i's stored cloud). Returns a
        :class:`catlas.correspond.Correspondence`: ``indices`` (n,) into
        ``sequence.points[j]`` and ``points`` (n,3) in input units (see that class for more).
        """
        return correspond_points(self, i, j, points, n_samples)


def load_run(path: str | Path, device: str = "cpu", snapshot: int | None = None) -> Run:
    """Load a run folder written by :func:`catlas.fit` (weights only; the checkpoint is verified).
    snapshot: load the weights kept at that iteration (``train.snapshot_every``) instead."""
    path = Path(path)
    if not path.is_dir():
        raise CatlasError(f"{path}: no such run folder")
    if not (path / CONFIG).exists():
        raise CatlasError(f"{path}: not a catlas run folder (no {CONFIG})")
    cfg = FitConfig.load(path / CONFIG)
    seq = Sequence.load_npz(path / SEQUENCE)
    dev = resolve_device(device)
    if snapshot is None:
        state = load_checkpoint(path, map_location=dev)
    else:
        state = load_snapshot(path, snapshot, map_location=dev)
    with torch.random.fork_rng(devices=[]):  # the initial weights, replaced below, use the
        model = AtlasNetwork(cfg.model)  # CPU generator: leave the caller's as it was
    model = model.to(dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CatlasError(f"{path}: checkpoint does not match {CONFIG} ({str(e).splitlines()[0]})") from None
    model.eval()
    iteration = int(state["iteration"])
    if snapshot is None and iteration < cfg.train.iterations:
        warnings.warn(f"{path}: the fit stopped at iteration {iteration} of "
                      f"{cfg.train.iterations}; using that checkpoint (continue it with "
                      f"catlas fit --resume {path})")
    return Run(path, cfg, seq, model, iteration)
