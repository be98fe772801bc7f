"""An orthographic camera chosen once for a whole sequence, so every frame is framed alike."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Camera", "auto_camera", "AXES"]

AXES = {"x": 0, "y": 1, "z": 2}


@dataclass
class Camera:
    """Orthographic view: ``rotation`` rows are the image right, image up and towards-viewer
    directions in world coordinates; world point p maps to pixel
    (col, row) = (cx + s * (p . right), cy - s * (p . up)) and depth p . toward (larger = nearer).
    """

    rotation: np.ndarray  # (3, 3)
    scale: float  # pixels per input unit
    center: tuple[float, float]  # pixel of the world origin (cx, cy)
    width: int
    height: int

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world points -> ``(..., 3)`` (col, row, depth); col/row in pixels."""
        q = np.asarray(points, np.float64) @ self.rotation.T
        col = self.center[0] + self.scale * q[..., 0]
        row = self.center[1] - self.scale * q[..., 1]
        return np.stack([col, row, q[..., 2]], axis=-1)

    @property
    def toward(self) -> np.ndarray:
        """Unit vector from the scene towards the viewer."""
        return self.rotation[2]


def _view_rotation(up_axis: int, azim_deg: float, elev_deg: float, side_axis: int) -> np.ndarray:
    """Rows (right, up, toward) for a viewer at azimuth/elevation around the world up axis;
    azimuth 0 looks along ``side_axis`` (the viewer sits on its + side)."""
    up = np.zeros(3)
    up[up_axis] = 1.0
    side = np.zeros(3)
    side[side_axis] = 1.0
    third = np.cross(up, side)
    a, e = math.radians(azim_deg), math.radians(elev_deg)
    horiz = math.cos(a) * side + math.sin(a) * third
    toward = math.cos(e) * horiz + math.sin(e) * up
    right = np.cross(up, toward)
    right /= np.linalg.norm(right)
    cam_up = np.cross(toward, right)
    return np.stack([right, cam_up, toward])


def auto_camera(points: np.ndarray, width: int = 480, height: int = 480, up: str = "y",
                azim: float = 35.0, elev: float = 20.0, margin: float = 0.06) -> Camera:
    """A camera that frames ``points`` (every frame's points stacked, (N, 3)) with ``margin``
    (fraction of the image) on each side.

    The viewer looks at the sequence from the side: azimuth 0 is the horizontal axis along
    which the sequence is thinnest (so the broad side faces the camera), turned by ``azim``
    degrees around the ``up`` axis and raised by ``elev`` degrees.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("no finite points to frame")
    u = AXES[up]
    horizontal = [a for a in range(3) if a != u]
    extent = pts.max(0) - pts.min(0)
    side = min(horizontal, key=lambda a: extent[a])
    rot = _view_rotation(u, azim, elev, side)
    q = pts @ rot.T
    lo, hi = q[:, :2].min(0), q[:, :2].max(0)
    span = np.maximum(hi - lo, 1e-12)
    usable = 1.0 - 2.0 * margin
    scale = float(min(width * usable / span[0], height * usable / span[1]))
    mid = (lo + hi) / 2.0
    center = (width / 2.0 - scale * mid[0], height / 2.0 + scale * mid[1])
    return Camera(rot, scale, center, int(width), int(height))
