"""UV-domain sampling: random training samples, regular grids, even ("regular spacing")
evaluation samples and the texture tiling of the patches.

Every patch uses the parameter domain [0, 1]^2 (docs/method.md, 2.3).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

__all__ = [
    "random_uv",
    "grid_uv",
    "grid_faces",
    "even_uv",
    "patch_tiles",
    "to_texture_uv",
]


def random_uv(
    n_patches: int,
    per_patch: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """I.i.d. uniform UV samples on [0, 1]^2, different points for every patch.

    Args:
        n_patches: P.
        per_patch: S, samples per patch.
        generator: optional torch generator (must live on ``device``).
        device, dtype: of the result.

    Returns:
        ``(P, S, 2)`` uv samples.
    """
    return torch.rand(
        (n_patches, per_patch, 2), generator=generator, device=device, dtype=dtype
    )


def grid_uv(
    resolution: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Regular ``R x R`` grid on [0, 1]^2, borders included.

    Vertex ``r * R + c`` has uv = (c / (R - 1), r / (R - 1)), i.e. u varies fastest.

    Args:
        resolution: R >= 2.

    Returns:
        ``(R*R, 2)`` uv coordinates.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    t = torch.linspace(0.0, 1.0, resolution, device=device, dtype=dtype)
    v, u = torch.meshgrid(t, t, indexing="ij")
    return torch.stack((u.reshape(-1), v.reshape(-1)), dim=-1)


def grid_faces(resolution: int, device: torch.device | str | None = None) -> Tensor:
    """Triangulation of :func:`grid_uv`'s grid, counter-clockwise in uv.

    Each cell (a = lower-left, b = +u, c = +v, d = +u+v) is split into (a, b, d) and
    (a, d, c), so face normals of the mapped surface follow f_u x f_v.

    Args:
        resolution: R >= 2.

    Returns:
        ``(2*(R-1)^2, 3)`` int64 vertex indices.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    R = resolution
    r, c = torch.meshgrid(
        torch.arange(R - 1, device=device), torch.arange(R - 1, device=device), indexing="ij"
    )
    a = (r * R + c).reshape(-1)
    b = a + 1
    cc = a + R
    d = a + R + 1
    f1 = torch.stack((a, b, d), dim=-1)
    f2 = torch.stack((a, d, cc), dim=-1)
    return torch.stack((f1, f2), dim=1).reshape(-1, 3).to(torch.int64)


def even_uv(
    m: int,
    seed: int = 0,
    iterations: int = 250,
    decay: float = 0.994,
) -> Tensor:
    """Evenly spread ("regular spacing") UV samples on [0, 1]^2 (docs/evaluation.md, 3.1).

    Greedy, decaying-step repulsion: start from ``m`` i.i.d. uniform points and step
    s = 0.25 / sqrt(m); each iteration every point proposes x + s (cos a, sin a) (random a,
    clipped to the square) and moves iff its nearest-neighbour distance among all
    candidates is strictly larger than its current one among the current points; then
    s <- decay * s. Deterministic given ``seed`` (computed on the CPU in float64).

    Args:
        m: number of points.
        seed: RNG seed.
        iterations: number of iterations (250 in the paper).
        decay: step decay per iteration (0.994 in the paper).

    Returns:
        ``(m, 2)`` float32 CPU tensor of uv points.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    rng = np.random.default_rng(seed)
    x = rng.random((m, 2))
    if m == 1:
        return torch.from_numpy(x).to(torch.float32)
    step = 0.25 / math.sqrt(m)

    def nn_sqdist(pts: np.ndarray) -> np.ndarray:
        d, _ = cKDTree(pts).query(pts, k=2)
        return d[:, 1] ** 2

    cur = nn_sqdist(x)
    for _ in range(iterations):
        ang = rng.random(m) * (2.0 * math.pi)
        cand = np.clip(x + step * np.stack((np.cos(ang), np.sin(ang)), axis=-1), 0.0, 1.0)
        cand_d = nn_sqdist(cand)
        move = cand_d > cur
        x = np.where(move[:, None], cand, x)
        cur = nn_sqdist(x)
        step *= decay
    return torch.from_numpy(x).to(torch.float32)


def patch_tiles(n_patches: int, margin: float = 0.02) -> Tensor:
    """Tile of each patch in the unit texture square.

    The square is split into an ``n x n`` grid of cells, n = ceil(sqrt(P)); patch p takes
    cell (row p // n, column p % n), shrunk by ``margin`` (texture units) on every side.

    Args:
        n_patches: P.
        margin: gap between a tile and its cell border; must satisfy 2 * margin < 1 / n.

    Returns:
        ``(P, 4)`` float32 rows (u0, v0, size_u, size_v).
    """
    if n_patches < 1:
        raise ValueError(f"n_patches must be >= 1, got {n_patches}")
    n = math.ceil(math.sqrt(n_patches))
    cell = 1.0 / n
    if not 0.0 <= 2.0 * margin < cell:
        raise ValueError(f"margin {margin} too large for a {n}x{n} tiling")
    p = torch.arange(n_patches, dtype=torch.float64)
    row = torch.div(p, n, rounding_mode="floor")
    col = p - row * n
    size = torch.full_like(p, cell - 2.0 * margin)
    tiles = torch.stack((col * cell + margin, row * cell + margin, size, size), dim=-1)
    return tiles.to(torch.float32)


def to_texture_uv(uv: Tensor, margin: float = 0.02) -> Tensor:
    """Map each patch's uv in [0, 1]^2 into its tile of :func:`patch_tiles`.

    Args:
        uv: ``(P, S, 2)`` per-patch uv.
        margin: as in :func:`patch_tiles`.

    Returns:
        ``(P, S, 2)`` texture coordinates in [0, 1]^2.
    """
    tiles = patch_tiles(uv.shape[0], margin).to(device=uv.device, dtype=uv.dtype)
    return tiles[:, None, :2] + uv * tiles[:, None, 2:]
