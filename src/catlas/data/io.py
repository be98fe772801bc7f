"""Reading frames: one file per frame (.ply/.obj/.off meshes or clouds, .xyz/.txt/.npy clouds),
or a whole sequence in one array file (.npy (K,N,3); .npz with ``points`` or ``vertices``+``faces``).

Coordinates are returned in the file's own units, as float64. Every bad input raises
:class:`CatlasError` naming the file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catlas.errors import CatlasError

#: suffix -> format family (.xyz and .txt are the same family)
SUFFIX_FAMILY: dict[str, str] = {
    ".ply": "ply", ".obj": "obj", ".off": "off", ".xyz": "xyz", ".txt": "xyz", ".npy": "npy",
}


@dataclass
class Frame:
    """One frame: ``points`` (N,3) float64 (the vertices of a mesh); ``faces`` (F,3) int64 or None."""

    points: np.ndarray
    faces: np.ndarray | None
    name: str

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None


def natural_key(name: str) -> list:
    """Sort key so that "frame2" comes before "frame10" (digit runs compare as numbers)."""
    return [(0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name)]


def list_frames(folder: str | Path) -> list[Path]:
    """The frame files of ``folder`` in natural order; hidden and unsupported files are ignored.

    ``.txt`` files are notes, not frames, when the folder holds .ply/.obj/.off/.npy frames (e.g. a
    SOURCE.txt next to OBJ meshes); otherwise they are point clouds like ``.xyz``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CatlasError(f"{folder}: not a folder")
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUFFIX_FAMILY]
    if not files:
        raise CatlasError(f"{folder}: no frame files found (supported: "
                          f"{', '.join(sorted(SUFFIX_FAMILY))})")
    if any(SUFFIX_FAMILY[p.suffix.lower()] != "xyz" for p in files):
        files = [p for p in files if p.suffix.lower() != ".txt"]
    families = {SUFFIX_FAMILY[p.suffix.lower()] for p in files}
    if len(families) > 1:
        suffixes = sorted({p.suffix.lower() for p in files})
        raise CatlasError(f"{folder}: frames mix formats ({', '.join(suffixes)}); use one format")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_frame(path: str | Path) -> Frame:
    """Read one frame file (format chosen by suffix)."""
    path = Path(path)
    fam = SUFFIX_FAMILY.get(path.suffix.lower())
    if fam is None:
        raise CatlasError(f"{path.name}: unsupported file type {path.suffix!r}")
    if not path.is_file():
        raise CatlasError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise CatlasError(f"{path.name}: file is empty")
    if fam == "obj":
        points, faces = _read_obj(path)
    elif fam in ("ply", "off"):
        points, faces = _read_trimesh(path)
    elif fam == "xyz":
        points, faces = _read_text(path), None
    else:
        points, faces = _read_npy_frame(path), None
    return _make_frame(points, faces, path.name)


def read_array_sequence(path: str | Path) -> list[Frame]:
    """Frames from one .npy (K,N,3) or one .npz (``points`` (K,N,3), or ``vertices`` (K,V,3) +
    ``faces`` (F,3)). Frame names are ``f"{file}[k]"``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise CatlasError(f"{path.name}: expected a .npy or .npz sequence file")
    if not path.is_file():
        raise CatlasError(f"{path.name}: file not found")
    faces = None
    _check_magic(path)
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
                if "points" in keys:
                    arr = z["points"]
                elif "vertices" in keys and "faces" in keys:
                    arr, faces = z["vertices"], z["faces"]
                else:
                    raise CatlasError(f"{path.name}: needs key 'points' or keys 'vertices' and "
                                      f"'faces' (found: {', '.join(sorted(keys)) or 'none'})")
    except CatlasError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CatlasError(f"{path.name}: cannot read array file ({_short(e)})") from None
    what = "vertices" if faces is not None else "points"
    if arr.ndim == 2 and faces is None and suffix == ".npy":
        arr = arr[None]  # one (N, 3) frame
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise CatlasError(f"{path.name}: {what} must have shape (K, N, 3), got {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CatlasError(f"{path.name}: {what} array is empty, shape {tuple(arr.shape)}")
    return [_make_frame(arr[k], faces, f"{path.name}[{k}]") for k in range(arr.shape[0])]


# ----------------------------------------------------------------------------------------------

def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


def _make_frame(points: np.ndarray, faces: np.ndarray | None, name: str) -> Frame:
    """Validate and convert to a Frame."""
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.number) or np.issubdtype(points.dtype, np.complexfloating):
        raise CatlasError(f"{name}: coordinates are not real numbers (dtype {points.dtype})")
    if points.ndim != 2 or points.shape[1] != 3:
        raise CatlasError(f"{name}: expected points of shape (N, 3), got {tuple(points.shape)}")
    if len(points) == 0:
        raise CatlasError(f"{name}: contains no points")
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise CatlasError(f"{name}: contains NaN or inf coordinates")
    if faces is not None:
        faces = np.asarray(faces)
        if faces.size == 0:
            faces = None
        else:
            if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
                raise CatlasError(f"{name}: faces must be integers of shape (F, 3), "
                                  f"got {faces.dtype} {tuple(faces.shape)}")
            faces = faces.astype(np.int64)
            if faces.min() < 0 or faces.max() >= len(points):
                raise CatlasError(f"{name}: face indices out of range [0, {len(points) - 1}]")
    return Frame(points=points, faces=faces, name=name)


def _fan(poly: list[int]) -> list[tuple[int, int, int]]:
    """Fan triangulation (v0, vi, vi+1) of one polygon."""
    return [(poly[0], poly[i], poly[i + 1]) for i in range(1, len(poly) - 1)]


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Wavefront OBJ: ``v`` and ``f`` lines only, vertices in file order, polygons fan-triangulated
    (the same triangles trimesh/PyTorch3D give, with the (v0, vi, vi+1) corner order)."""
    verts: list[list[float]] = []
    tris: list[tuple[int, int, int]] = []
    try:
        with open(path, "r", encoding="utf-8", errors="strict") as fh:
            for lineno, line in enumerate(fh, 1):
                tok = line.split("#", 1)[0].split()
                if not tok:
                    continue
                if tok[0] == "v":
                    if len(tok) < 4:
                        raise ValueError(f"line {lineno}: vertex needs 3 coordinates")
                    verts.append([float(t) for t in tok[1:4]])
                elif tok[0] == "f":
                    if len(tok) < 4:
                        raise ValueError(f"line {lineno}: face needs at least 3 vertices")
                    idx = []
                    for t in tok[1:]:
                        i = int(t.split("/", 1)[0])
                        if i == 0:
                            raise ValueError(f"line {lineno}: vertex index 0 (OBJ is 1-based)")
                        idx.append(i - 1 if i > 0 else len(verts) + i)
                    tris.extend(_fan(idx))
    except UnicodeDecodeError:
        raise CatlasError(f"{path.name}: not a text OBJ file") from None
    except ValueError as e:
        raise CatlasError(f"{path.name}: malformed OBJ ({e})") from None
    faces = np.array(tris, dtype=np.int64).reshape(-1, 3) if tris else None
    return np.array(verts, dtype=np.float64).reshape(-1, 3), faces


def _read_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """PLY/OFF through trimesh without processing (vertex order kept, polygons fan-triangulated)."""
    import trimesh

    try:
        obj = trimesh.load(path, process=False, maintain_order=True)
    except Exception as e:  # trimesh raises many different types on bad files
        raise CatlasError(f"{path.name}: cannot read file ({_short(e)})") from None
    if isinstance(obj, trimesh.Scene):
        geoms = list(obj.geometry.values())
        if len(geoms) != 1:
            raise CatlasError(f"{path.name}: expected one mesh or point cloud, found {len(geoms)}")
        obj = geoms[0]
    vertices = getattr(obj, "vertices", None)
    if vertices is None:
        raise CatlasError(f"{path.name}: no vertices found")
    faces = getattr(obj, "faces", None)
    return np.asarray(vertices, dtype=np.float64), (None if faces is None else np.asarray(faces))


_SEP = re.compile(r"[,\s]+")


def _read_text(path: Path) -> np.ndarray:
    """.xyz/.txt: one point per line, whitespace or commas, first 3 columns, ``#`` comments."""
    rows: list[list[float]] = []
    try:
        with open(path, "r", encoding="utf-8", errors="strict") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                tok = [t for t in _SEP.split(line) if t]
                if len(tok) < 3:
                    raise ValueError(f"line {lineno}: expected at least 3 columns, got {len(tok)}")
                rows.append([float(t) for t in tok[:3]])
    except UnicodeDecodeError:
        raise CatlasError(f"{path.name}: not a text file") from None
    except ValueError as e:
        raise CatlasError(f"{path.name}: malformed point file ({e})") from None
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _check_magic(path: Path) -> None:
    """Reject files that are not .npy/.npz before numpy tries (and misreports) a pickle."""
    magic = {".npy": b"\x93NUMPY", ".npz": b"PK"}[path.suffix.lower()]
    with open(path, "rb") as fh:
        if fh.read(len(magic)) != magic:
            raise CatlasError(f"{path.name}: not a {path.suffix.lower()} file (wrong header)")


def _read_npy_frame(path: Path) -> np.ndarray:
    """.npy frame: (N,3), or (N,>=3) with the first 3 columns used."""
    _check_magic(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CatlasError(f"{path.name}: cannot read .npy file ({_short(e)})") from None
    if arr.ndim == 2 and arr.shape[1] > 3:
        arr = arr[:, :3]
    return arr
