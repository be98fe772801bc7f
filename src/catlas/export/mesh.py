"""A run's surfaces for every frame as one triangle mesh sequence with fixed connectivity (what
``catlas export`` writes and ``catlas render`` draws), and the checks of their options.

Collapsed patches (docs/evaluation.md, 3.2: mean det g of a patch < 1e-3 x the mean over patches)
are left out, but only those collapsed in *every* frame (:func:`catlas.surface.persistent_patches`),
so all frames keep the same vertices and faces in the same order. Coordinates are in the input's
units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from catlas.config import MAX_RESOLUTION
from catlas.errors import CatlasError
from catlas.geometry.uv import grid_uv
from catlas.surface import persistent_patches

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["MIN_FPS", "MAX_FPS", "check_resolution", "check_fps", "check_free", "frame_progress", "MeshSequence",
           "mesh_sequence", "frame_name", "vertex_normals"]

MIN_FPS, MAX_FPS = 0.01, 1000.0
"""Frame rates of the GLB animation and of render's GIF / MP4."""


def check_resolution(resolution: int | None, option: str = "--resolution") -> None:
    """CatlasError unless ``resolution`` is None (the default) or an integer in [2, MAX_RESOLUTION]
    (UV grid vertices per patch side; a mesh is decoded at once)."""
    if resolution is None:
        return
    if isinstance(resolution, bool) or not isinstance(resolution, int) \
            or not 2 <= resolution <= MAX_RESOLUTION:
        raise CatlasError(f"{option} must be an integer in [2, {MAX_RESOLUTION}] (UV grid vertices "
                          f"per patch side), got {resolution!r}")


def check_fps(fps: float, option: str = "--fps") -> None:
    """CatlasError unless ``fps`` is a finite frame rate in [MIN_FPS, MAX_FPS]."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) \
            or not MIN_FPS <= fps <= MAX_FPS:
        raise CatlasError(f"{option} must be a frame rate in [{MIN_FPS:g}, {MAX_FPS:g}] frames per "
                          f"second, got {fps!r}")


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals, area-weighted from the face normals, of ``vertices`` (V, 3) or
    (K, V, 3) (K frames of one mesh) and ``faces`` (F, 3); same shape as ``vertices``, float64.

    A face's normal follows its winding (right hand: (b - a) x (c - a)), so counter-clockwise
    faces seen from the front give outward normals. Vertices in no face or only in zero-area faces
    get (0, 0, 1)."""
    v = np.asarray(vertices, np.float64)
    single = v.ndim == 2
    if single:
        v = v[None]
    if v.ndim != 3 or v.shape[2] != 3:
        raise ValueError(f"vertices must have shape (V, 3) or (K, V, 3), got {np.shape(vertices)}")
    K, V, _ = v.shape
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    a, b, c = v[:, f[:, 0]], v[:, f[:, 1]], v[:, f[:, 2]]
    face_n = np.cross(b - a, c - a)  # (K, F, 3), length 2 x the face's area
    idx = ((np.arange(K) * V)[:, None, None] + f[None]).reshape(-1)  # (K * F * 3,)
    n = np.empty((K * V, 3))
    for j in range(3):
        w = np.broadcast_to(face_n[:, :, None, j], (K, len(f), 3)).reshape(-1)
        n[:, j] = np.bincount(idx, weights=w, minlength=K * V)
    length = np.linalg.norm(n, axis=1)
    ok = np.isfinite(length) & (length > np.finfo(np.float64).tiny)
    n[ok] /= length[ok, None]
    n[~ok] = (0.0, 0.0, 1.0)
    n = n.reshape(K, V, 3)
    return n[0] if single else n


@dataclass
class MeshSequence:
    """K frames of one triangle mesh (same faces, same vertex order), input units."""

    # Not catlas.run.AtlasMesh (Run.mesh's one frame, all patches): K frames, collapsed ones dropped.
    vertices: np.ndarray  # (K, V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    texcoords: np.ndarray  # (V, 2) OBJ convention (v = 0 at the bottom of the image)
    patch: np.ndarray  # (V,) int64 patch of each vertex (original patch numbering)
    uv: np.ndarray  # (V, 2) each vertex's uv in its patch's [0, 1]^2
    kept: np.ndarray  # (P,) bool patches kept
    resolution: int  # UV grid vertices per patch side (0 for a tracked mesh)
    names: list[str]  # (K,) input frame names
    reference: int | None = None  # a tracked mesh's reference frame (catlas.tracked_mesh); None: patch grids
    source: str = ""  # a tracked mesh's reference mesh: "input mesh" or "ball pivoting"

    @property
    def n_frames(self) -> int:
        return self.vertices.shape[0]

    @property
    def n_patches(self) -> int:
        return len(self.kept)

    def normals(self) -> np.ndarray:
        """(K, V, 3) unit vertex normals of every frame (:func:`vertex_normals`)."""
        return vertex_normals(self.vertices, self.faces)

    def face_patch_uv(self) -> tuple[np.ndarray, np.ndarray]:
        """Patch (F,) and uv centroid (F, 2) of every face (for per-face checker colours)."""
        return self.patch[self.faces[:, 0]], self.uv[self.faces].mean(axis=1)


def frame_progress(it: Iterable, total: int, desc: str, progress: bool):
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="frame", leave=False)


def mesh_sequence(run: "Run", resolution: int | None = None, drop_collapsed: bool = True,
                  progress: bool = False, kept: np.ndarray | None = None) -> MeshSequence:
    """Decode every frame's atlas mesh (:meth:`Run.mesh`) and drop persistently collapsed patches.

    resolution: UV grid vertices per patch side, in [2, MAX_RESOLUTION]; None = the run's
    ``train.mesh_resolution``. kept: ``(P,)`` bool patches to keep when already known (e.g. a
    tracked mesh's :attr:`MeshSequence.kept`), instead of finding the collapsed ones again."""
    check_resolution(resolution)
    r = run.config.train.mesh_resolution if resolution is None else resolution
    K = run.n_frames
    if kept is None:
        kept = persistent_patches(run, progress=progress) if drop_collapsed else np.ones(run.n_patches, bool)
    frames = []
    first = None
    for k in frame_progress(range(K), K, "decoding frames", progress):
        m = run.mesh(k, r)
        first = first or m
        frames.append(m.vertices)
    assert first is not None
    vmask = kept[first.patch]
    remap = np.full(len(vmask), -1, np.int64)
    remap[vmask] = np.arange(int(vmask.sum()))
    faces = remap[first.faces]
    faces = faces[(faces >= 0).all(axis=1)]
    uv = np.tile(grid_uv(r).numpy().astype(np.float64), (run.n_patches, 1))
    verts = np.stack(frames)[:, vmask].astype(np.float64)
    return MeshSequence(vertices=verts, faces=faces, texcoords=first.texcoords[vmask].astype(np.float64),
                        patch=first.patch[vmask].astype(np.int64), uv=uv[vmask], kept=kept,
                        resolution=r, names=list(run.sequence.names))


def frame_name(k: int, n_frames: int, suffix: str) -> str:
    """``frame_0007.obj``: zero-padded to at least 4 digits (more for long sequences)."""
    width = max(4, len(str(max(n_frames - 1, 0))))
    return f"frame_{k:0{width}d}{suffix}"


def check_free(paths: list[Path], overwrite: bool) -> None:
    """Refuse (CatlasError) when any of ``paths`` exists, unless ``overwrite``."""
    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise CatlasError(f"{existing[0]}: exists{more}; use --overwrite to replace")
