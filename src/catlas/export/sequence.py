"""The sequence exporters: OBJ / PLY per frame, one animated GLB, a PC2 point cache, of a run's
surface sequence (:class:`catlas.export.mesh.MeshSequence`: fixed connectivity, persistently
collapsed patches left out, input units).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from catlas.errors import CatlasError
from catlas.export.gltf import DEFAULT_FPS, write_glb
from catlas.export.mesh import (MAX_FPS, MIN_FPS, MeshSequence, check_fps, check_free, check_resolution,
                                frame_name, frame_progress, mesh_sequence, vertex_normals)
from catlas.export.obj import obj_text
from catlas.export.texture import checker_texture, png_bytes
from catlas.fileio import atomic_path, atomic_write_bytes, atomic_write_text
from catlas.runfiles import (EXPORT_DIR, EXPORT_FORMATS, GLB_FILE, MATERIAL_MTL, PC2_FILE, PC2_OBJ,
                             TEXTURE_PNG, TRACKED_MESH_DIR)

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["check_resolution", "check_fps", "MIN_FPS", "MAX_FPS", "check_free", "FORMATS", "MeshSequence",
           "mesh_sequence", "frame_name", "write_ply", "write_pc2", "read_pc2", "export_sequence",
           "export_run", "DEFAULT_FPS", "TEXTURE_PNG", "MATERIAL_MTL", "MATERIAL_NAME", "PC2_MAGIC"]

FORMATS = EXPORT_FORMATS
SURFACES = ("atlas", "mesh")
"""What export writes: every patch's UV grid, or one mesh carried through the sequence."""
MATERIAL_NAME = "atlas_checker"
PC2_MAGIC = b"POINTCACHE2\0"
_PC2_HEADER = struct.Struct("<12siiffi")
# ----------------------------------------------------------------------------- writers

def mtl_text(texture: str = TEXTURE_PNG, name: str = MATERIAL_NAME) -> str:
    return (f"# catlas atlas checkerboard\nnewmtl {name}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
            f"d 1\nillum 1\nmap_Kd {texture}\n")


# Not trimesh's export_ply: it writes its own comment line instead of the frame's header, s / t as
# double after the attributes; this keeps the float x y z nx ny nz s t + int patch layout.
def ply_bytes(vertices: np.ndarray, faces: np.ndarray, texcoords: np.ndarray | None = None,
              patch: np.ndarray | None = None, comment: str = "", normals: np.ndarray | None = None,
              texture: str | None = None) -> bytes:
    """Binary little-endian PLY: vertex x y z, nx ny nz, s t (float), patch (int); face lists.

    texture: the image file name, written as the header line ``comment TextureFile NAME`` (how
    MeshLab and trimesh find the texture of the s t coordinates)."""
    V = len(vertices)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if texcoords is not None:
        fields += [("s", "<f4"), ("t", "<f4")]
    if patch is not None:
        fields += [("patch", "<i4")]
    vert = np.empty(V, dtype=fields)
    vert["x"], vert["y"], vert["z"] = np.asarray(vertices, np.float64).T
    if normals is not None:
        vert["nx"], vert["ny"], vert["nz"] = np.asarray(normals, np.float64).T
    if texcoords is not None:
        vert["s"], vert["t"] = np.asarray(texcoords, np.float64).T
    if patch is not None:
        vert["patch"] = patch
    face = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face["n"] = 3
    face["idx"] = faces
    ply_type = {"<f4": "float", "<i4": "int"}
    header = ["ply", "format binary_little_endian 1.0"]
    if texture:
        header.append(f"comment TextureFile {texture}")
    header += [f"comment {line}" for line in comment.splitlines()]
    header.append(f"element vertex {V}")
    header += [f"property {ply_type[t]} {n}" for n, t in fields]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    return ("\n".join(header) + "\n").encode("ascii") + vert.tobytes() + face.tobytes()


def write_ply(path: str | Path, vertices, faces, texcoords=None, patch=None, comment: str = "",
              normals=None, texture: str | None = None) -> None:
    atomic_write_bytes(path, ply_bytes(vertices, faces, texcoords, patch, comment, normals, texture))


def write_pc2(path: str | Path, frames: np.ndarray, start_frame: float = 1.0,
              sample_rate: float = 1.0) -> None:
    """Blender / 3ds Max point cache: header (magic, version 1, points, start frame, sample
    rate, samples) then float32 x y z per point per frame.

    Sample k belongs to frame ``start_frame + k * sample_rate`` (sample_rate: frames between
    samples); the defaults put sequence frame 0 on frame 1, Blender's first frame. Blender's Mesh
    Cache modifier ignores this header in its default time mode (Frames: scene frame f shows
    sample f minus the modifier's Frame Start, default 0), hence the README's Frame Start 1."""
    frames = np.asarray(frames, np.float64)
    if frames.ndim != 3 or frames.shape[2] != 3:
        raise ValueError(f"frames must have shape (K, V, 3), got {frames.shape}")
    K, V, _ = frames.shape
    header = _PC2_HEADER.pack(PC2_MAGIC, 1, V, float(start_frame), float(sample_rate), K)
    atomic_write_bytes(path, header + frames.astype("<f4").tobytes())


def read_pc2(path: str | Path) -> tuple[np.ndarray, dict]:
    """(K, V, 3) float32 frames and the header fields of a PC2 file."""
    data = Path(path).read_bytes()
    magic, version, V, start, rate, K = _PC2_HEADER.unpack_from(data)
    if magic != PC2_MAGIC:
        raise CatlasError(f"{path}: not a PC2 file")
    body = np.frombuffer(data, "<f4", offset=_PC2_HEADER.size)
    if body.size != K * V * 3:
        raise CatlasError(f"{path}: {body.size} floats, header says {K} x {V} x 3")
    return body.reshape(K, V, 3), {"version": version, "points": V, "start_frame": start,
                                   "sample_rate": rate, "samples": K}


def _header(seq: MeshSequence, k: int) -> str:
    dropped = np.flatnonzero(~seq.kept).tolist()
    name = seq.names[k] if k < len(seq.names) else k
    if seq.reference is not None:
        return (f"catlas tracked mesh, frame {k} ({name})\n"
                f"the {seq.source} of frame {seq.reference} carried through every frame by the atlas "
                f"({int(seq.kept.sum())} of {seq.n_patches} patches; texture: each vertex's patch), input units")
    return (f"catlas atlas surface, frame {k} ({name})\n"
            f"{int(seq.kept.sum())} of {seq.n_patches} patches (collapsed, left out: {dropped}), "
            f"{seq.resolution}x{seq.resolution} UV grid each, input units")


def _planned(fmt: str, out: Path, K: int) -> list[Path]:
    if fmt == "obj":
        return [out / frame_name(k, K, ".obj") for k in range(K)] + [out / MATERIAL_MTL, out / TEXTURE_PNG]
    if fmt == "ply":
        return [out / frame_name(k, K, ".ply") for k in range(K)] + [out / TEXTURE_PNG]
    if fmt == "glb":
        return [out / GLB_FILE]
    if fmt == "pc2":
        return [out / PC2_FILE, out / PC2_OBJ, out / MATERIAL_MTL, out / TEXTURE_PNG]
    raise CatlasError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")


def _write_texture(out: Path, n_patches: int) -> None:
    atomic_write_bytes(out / TEXTURE_PNG, png_bytes(checker_texture(n_patches)))


def _write_material(out: Path, n_patches: int) -> None:
    atomic_write_text(out / MATERIAL_MTL, mtl_text())
    _write_texture(out, n_patches)


def export_sequence(seq: MeshSequence, fmt: str, out: str | Path, overwrite: bool = False,
                    fps: float = DEFAULT_FPS, progress: bool = False) -> list[Path]:
    """Write ``seq`` in one format into folder ``out``; returns the files written."""
    check_fps(fps)
    out = Path(out)
    K = seq.n_frames
    paths = _planned(fmt, out, K)
    check_free(paths, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "obj":
        normals = seq.normals()
        _write_material(out, seq.n_patches)
        for k in frame_progress(range(K), K, "writing OBJ", progress):
            with atomic_path(paths[k]) as tmp:
                tmp.write_text(obj_text(seq.vertices[k], seq.faces, seq.texcoords, _header(seq, k),
                                        mtllib=MATERIAL_MTL, material=MATERIAL_NAME,
                                        normals=normals[k]))
    elif fmt == "ply":
        normals = seq.normals()
        _write_texture(out, seq.n_patches)
        for k in frame_progress(range(K), K, "writing PLY", progress):
            write_ply(paths[k], seq.vertices[k], seq.faces, seq.texcoords, seq.patch, _header(seq, k),
                      normals=normals[k], texture=TEXTURE_PNG)
    elif fmt == "glb":
        write_glb(paths[0], seq, fps=fps)
    elif fmt == "pc2":
        write_pc2(paths[0], seq.vertices, start_frame=1.0, sample_rate=1.0)
        _write_material(out, seq.n_patches)
        with atomic_path(paths[1]) as tmp:
            tmp.write_text(obj_text(seq.vertices[0], seq.faces, seq.texcoords,
                                    _header(seq, 0) + f"\nanimated by {PC2_FILE} ({K} frames)",
                                    mtllib=MATERIAL_MTL, material=MATERIAL_NAME,
                                    normals=vertex_normals(seq.vertices[0], seq.faces)))
    return paths


def export_run(run: "Run", formats: Iterable[str], out: str | Path | None = None,
               resolution: int | None = None, overwrite: bool = False, fps: float = DEFAULT_FPS,
               drop_collapsed: bool = True, progress: bool = False, surface: str = "atlas",
               reference: int | None = None) -> dict[str, list[Path]]:
    """Export a run's surface sequence: each format into ``out``/FORMAT, for one format as for
    several. ``surface``: "atlas" (every patch's UV grid; ``out`` default RUN_DIR/export) or
    "mesh" (one mesh carried through the sequence, :func:`catlas.tracked_mesh.tracked_mesh` at
    frame ``reference``; ``out`` default RUN_DIR/export/mesh; ``resolution`` and
    ``drop_collapsed`` do not apply).

    Nothing is written when any target file exists and ``overwrite`` is False, or when
    ``resolution`` (None = the run's ``train.mesh_resolution``) or ``fps`` is out of range.
    """
    if surface not in SURFACES:
        raise CatlasError(f"--surface must be one of {', '.join(SURFACES)}, got {surface!r}")
    check_resolution(resolution)
    check_fps(fps)
    formats = list(dict.fromkeys(formats))
    if not formats:
        raise CatlasError("no export format given")
    for f in formats:
        if f not in FORMATS:
            raise CatlasError(f"unknown export format {f!r} (choose from {', '.join(FORMATS)})")
    default = run.path / EXPORT_DIR / (TRACKED_MESH_DIR if surface == "mesh" else "")
    base = Path(out) if out is not None else default
    dirs = {f: base / f for f in formats}
    for f in formats:  # refuse before decoding anything
        check_free(_planned(f, dirs[f], run.n_frames), overwrite)
    if surface == "mesh":
        from catlas.tracked_mesh import reference_frame, tracked_mesh

        reference_frame(run, reference)  # checked before the work
        seq = tracked_mesh(run, reference, progress=progress).sequence
    else:
        seq = mesh_sequence(run, resolution, drop_collapsed=drop_collapsed, progress=progress)
    return {f: export_sequence(seq, f, dirs[f], overwrite=overwrite, fps=fps, progress=progress)
            for f in formats}
