"""Offscreen drawing of triangle meshes and point clouds with matplotlib's Agg backend.

No display, no OpenGL, no GPU: faces are projected by :class:`~catlas.render.camera.Camera`,
sorted back to front (painter's algorithm) and drawn as one 2D ``PolyCollection`` with
per-face colours (Lambert-shaded, both sides lit since patches are open surfaces).
"""

from __future__ import annotations

import numpy as np

from catlas.render.camera import Camera

__all__ = ["face_shading", "draw_mesh", "draw_points", "BACKGROUND"]

BACKGROUND = (1.0, 1.0, 1.0)


def _canvas(camera: Camera, background=BACKGROUND):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(camera.width / dpi, camera.height / dpi), dpi=dpi, facecolor=background)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, camera.width)
    ax.set_ylim(camera.height, 0)
    ax.set_axis_off()
    ax.set_facecolor(background)
    return fig, canvas, ax


def _pixels(canvas) -> np.ndarray:
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def face_shading(vertices: np.ndarray, faces: np.ndarray, camera: Camera,
                 ambient: float = 0.35) -> np.ndarray:
    """``(F,)`` brightness in [ambient, 1]: a headlight slightly above the viewer, |n . l|."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-30
    light = camera.toward + 0.5 * camera.rotation[1]
    light /= np.linalg.norm(light)
    return ambient + (1.0 - ambient) * np.abs(n @ light)


def draw_mesh(camera: Camera, vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray,
              shade: bool = True, background=BACKGROUND) -> np.ndarray:
    """``(H, W, 3)`` uint8 image of the mesh; face_colors ``(F, 3)`` float RGB in [0, 1]."""
    from matplotlib.collections import PolyCollection

    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    colors = np.asarray(face_colors, np.float64)
    if shade:
        colors = colors * face_shading(vertices, faces, camera)[:, None]
    proj = camera.project(vertices)
    tri = proj[faces]  # (F, 3, 3)
    ok = np.isfinite(tri).all(axis=(1, 2))
    order = np.argsort(tri[:, :, 2].mean(axis=1)[ok], kind="stable")  # far (small depth) first
    tri2d = tri[ok][order][:, :, :2]
    col = np.clip(colors[ok][order], 0.0, 1.0)
    fig, canvas, ax = _canvas(camera, background)
    # thin edges in the face colour close the hairline cracks between neighbouring faces
    ax.add_collection(PolyCollection(tri2d, facecolors=col, edgecolors=col, linewidths=0.25,
                                     antialiaseds=False))
    return _pixels(canvas)


def draw_points(camera: Camera, points: np.ndarray, colors: np.ndarray | None = None,
                size: float = 4.0, shade_depth: bool = True, background=BACKGROUND) -> np.ndarray:
    """``(H, W, 3)`` uint8 image of a point cloud, near points drawn last.

    colors: ``(N, 3)`` RGB in [0, 1] (default grey); ``shade_depth`` darkens far points a little.
    size: marker area in points^2 (matplotlib ``scatter``'s ``s``).
    """
    pts = np.asarray(points, np.float64)
    proj = camera.project(pts)
    ok = np.isfinite(proj).all(axis=1)
    proj = proj[ok]
    col = np.full((len(pts), 3), 0.55) if colors is None else np.asarray(colors, np.float64)
    col = col[ok]
    if shade_depth and len(proj):
        d = proj[:, 2]
        t = (d - d.min()) / max(d.max() - d.min(), 1e-12)
        col = col * (0.6 + 0.4 * t)[:, None]
    order = np.argsort(proj[:, 2], kind="stable")
    fig, canvas, ax = _canvas(camera, background)
    ax.scatter(proj[order, 0], proj[order, 1], s=size, c=np.clip(col[order], 0, 1),
               linewidths=0, marker="o")
    return _pixels(canvas)
