"""The checkerboard atlas texture: every patch's tile of the unit texture square holds an
``n x n`` checkerboard in the patch's own hue (light and dark cells), so a textured mesh shows
the patches and, across frames, which surface cell follows which part of the body.

The same colour rule is used by the OBJ/GLB texture image and by ``catlas render`` (which
colours faces by their (patch, uv) directly), so both show identical cells.
"""

from __future__ import annotations

import io

import numpy as np

from catlas.geometry.uv import patch_tiles

__all__ = ["CHECKER_CELLS", "patch_palette", "checker_parity", "checker_colors", "checker_texture",
           "png_bytes", "DARK", "BACKGROUND"]

CHECKER_CELLS = 8
"""Checker cells per patch side."""
DARK = 0.45
"""Brightness factor of the dark cells (light cells use the patch colour as is)."""
BACKGROUND = (0.5, 0.5, 0.5)
"""Texture colour outside every tile (never sampled by the meshes)."""


def patch_palette(n_patches: int) -> np.ndarray:
    """``(P, 3)`` float RGB in [0, 1]: well separated, light hues (golden-ratio hue steps)."""
    from matplotlib.colors import hsv_to_rgb

    h = (np.arange(n_patches) * 0.618033988749895) % 1.0
    hsv = np.stack([h, np.full_like(h, 0.55), np.full_like(h, 0.95)], axis=-1)
    return hsv_to_rgb(hsv)


def checker_parity(uv: np.ndarray, cells: int = CHECKER_CELLS) -> np.ndarray:
    """``(...)`` bool: True on light cells of the checkerboard over a patch's uv in [0, 1]^2."""
    uv = np.asarray(uv, np.float64)
    ij = np.clip(np.floor(uv * cells), 0, cells - 1).astype(np.int64)
    return (ij[..., 0] + ij[..., 1]) % 2 == 0


def checker_colors(patch: np.ndarray, uv: np.ndarray, n_patches: int,
                   cells: int = CHECKER_CELLS) -> np.ndarray:
    """``(..., 3)`` float RGB of the checker texture at patch (...) and patch-uv (..., 2)."""
    pal = patch_palette(n_patches)[np.asarray(patch, np.int64)]
    light = checker_parity(uv, cells)
    return np.where(light[..., None], pal, pal * DARK)


def checker_texture(n_patches: int, size: int = 1024, cells: int = CHECKER_CELLS,
                    margin: float = 0.02) -> np.ndarray:
    """``(size, size, 3)`` uint8 image of the atlas texture, row 0 at the top (v = 1).

    Texel (row, col) has texture coordinates (u, v) = ((col + .5) / size, 1 - (row + .5) / size)
    as in OBJ; tiles follow :func:`catlas.geometry.uv.patch_tiles` (patch p in tile p). Tiles are
    padded by half their margin with the border colour, so bilinear filtering and mipmaps do
    not bleed the grey background onto the surface.
    """
    tiles = patch_tiles(n_patches, margin).double().numpy()
    c = (np.arange(size) + 0.5) / size
    u = np.broadcast_to(c[None, :], (size, size))
    v = np.broadcast_to(1.0 - c[:, None], (size, size))
    img = np.empty((size, size, 3))
    img[:] = BACKGROUND
    pal = patch_palette(n_patches)
    pad = margin * 0.5
    for p, (u0, v0, su, sv) in enumerate(tiles):
        inside = (u >= u0 - pad) & (u <= u0 + su + pad) & (v >= v0 - pad) & (v <= v0 + sv + pad)
        lu = np.clip((u[inside] - u0) / su, 0.0, 1.0)
        lv = np.clip((v[inside] - v0) / sv, 0.0, 1.0)
        light = checker_parity(np.stack([lu, lv], -1), cells)
        img[inside] = np.where(light[:, None], pal[p], pal[p] * DARK)
    return np.round(img * 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file contents of an (H, W, 3|4) uint8 image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


