"""Wavefront OBJ writer for triangle meshes with per-vertex texture coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catlas.fileio import atomic_path


def obj_text(
    vertices: np.ndarray,
    faces: np.ndarray,
    texcoords: np.ndarray | None = None,
    header: str = "",
    mtllib: str | None = None,
    material: str | None = None,
) -> str:
    """OBJ text for vertices (V, 3), faces (F, 3) 0-based, texcoords (V, 2) (same index as v)."""
    lines = [f"# {line}" for line in header.splitlines()]
    if mtllib:
        lines.append(f"mtllib {mtllib}")
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    f1 = np.asarray(faces, dtype=np.int64) + 1
    if texcoords is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in np.asarray(texcoords, dtype=np.float64)]
        if material:
            lines.append(f"usemtl {material}")
        lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in f1]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in f1]
    return "\n".join(lines) + "\n"


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray,
              texcoords: np.ndarray | None = None, header: str = "", **kw: str | None) -> None:
    """Write an OBJ atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(obj_text(vertices, faces, texcoords, header, **kw))
