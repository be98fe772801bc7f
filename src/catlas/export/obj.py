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
    normals: np.ndarray | None = None,
) -> str:
    """OBJ text for vertices (V, 3), faces (F, 3) 0-based, texcoords (V, 2) and normals (V, 3)
    (both with the same index as v)."""
    lines = [f"# {line}" for line in header.splitlines()]
    if mtllib:
        lines.append(f"mtllib {mtllib}")
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    if texcoords is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in np.asarray(texcoords, dtype=np.float64)]
    if normals is not None:
        lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(normals, dtype=np.float64)]
    if texcoords is not None and material:
        lines.append(f"usemtl {material}")
    f1 = np.asarray(faces, dtype=np.int64) + 1
    corner = {(False, False): "{0}", (True, False): "{0}/{0}", (False, True): "{0}//{0}",
              (True, True): "{0}/{0}/{0}"}[(texcoords is not None, normals is not None)]
    face_line = "f " + " ".join(corner.replace("0", str(j)) for j in range(3))
    lines += [face_line.format(*face) for face in f1.tolist()]
    return "\n".join(lines) + "\n"


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray,
              texcoords: np.ndarray | None = None, header: str = "", **kw) -> None:
    """Write an OBJ atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(obj_text(vertices, faces, texcoords, header, **kw))
