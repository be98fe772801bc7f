"""Reading frames: one file per frame (.ply/.obj/.off meshes or clouds, .xyz/.txt/.npy clouds),
or a whole sequence in one array file (.npy (K,N,3); .npz with ``points`` or ``vertices``+``faces``).

Coordinates are returned in the file's own units, as float64. Every bad input raises
:class:`CatlasError` naming the file as the caller gave it; nothing is read past what a file
declares, and no array is allocated before its declared size has been checked against the bytes
the file really holds.
"""

from __future__ import annotations

import math
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catlas.errors import CatlasError

#: suffix -> format family (.xyz and .txt are the same family)
SUFFIX_FAMILY: dict[str, str] = {
    ".ply": "ply", ".obj": "obj", ".off": "off", ".xyz": "xyz", ".txt": "xyz", ".npy": "npy",
}

F32_MAX = float(np.finfo(np.float32).max)
"""The largest coordinate magnitude accepted: catlas trains in float32."""

# what reading a damaged array or zip file raises (zlib.error: a corrupt deflate stream)
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError,
                NotImplementedError)


@dataclass
class Frame:
    """One frame: ``points`` (N,3) float64 (the vertices of a mesh); ``faces`` (F,3) int64 or None."""

    points: np.ndarray
    faces: np.ndarray | None
    name: str
    source: str = ""
    """The file as the caller gave it (``f"{file}[k]"`` for array files), for messages."""

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None

    @property
    def label(self) -> str:
        """What messages call this frame: its file as given, else its name."""
        return self.source or self.name


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
    where = str(path)
    fam = SUFFIX_FAMILY.get(path.suffix.lower())
    if fam is None:
        raise CatlasError(f"{where}: unsupported file type {path.suffix!r}")
    if not path.is_file():
        raise CatlasError(f"{where}: file not found")
    if path.stat().st_size == 0:
        raise CatlasError(f"{where}: file is empty")
    try:
        if fam == "obj":
            points, faces = _read_obj(path, where)
        elif fam == "ply":
            points, faces = _read_ply(path, where)
        elif fam == "off":
            points, faces = _read_off(path, where)
        elif fam == "xyz":
            points, faces = _read_text(path, where), None
        else:
            points, faces = _read_npy_frame(path, where), None
    except OSError as e:
        raise CatlasError(f"{where}: cannot read file ({_short(e)})") from None
    return _make_frame(points, faces, path.name, where)


def read_array_sequence(path: str | Path) -> list[Frame]:
    """Frames from one .npy (K,N,3) or one .npz (``points`` (K,N,3), or ``vertices`` (K,V,3) +
    ``faces`` (F,3)). Frame names are ``f"{file}[k]"``."""
    path = Path(path)
    where = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise CatlasError(f"{where}: expected a .npy or .npz sequence file")
    if not path.is_file():
        raise CatlasError(f"{where}: file not found")
    faces = None
    if suffix == ".npy":
        arr = load_npy(path, where)
    else:
        keys = npz_keys(path, where)
        if "points" in keys:
            arr = load_npz_arrays(path, ["points"], where)["points"]
        elif "vertices" in keys and "faces" in keys:
            d = load_npz_arrays(path, ["vertices", "faces"], where)
            arr, faces = d["vertices"], d["faces"]
        else:
            raise CatlasError(f"{where}: needs key 'points' or keys 'vertices' and "
                              f"'faces' (found: {', '.join(sorted(keys)) or 'none'})")
    what = "vertices" if faces is not None else "points"
    if arr.ndim == 2 and faces is None and suffix == ".npy":
        arr = arr[None]  # one (N, 3) frame
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise CatlasError(f"{where}: {what} must have shape (K, N, 3), got {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CatlasError(f"{where}: {what} array is empty, shape {tuple(arr.shape)}")
    return [_make_frame(arr[k], faces, f"{path.name}[{k}]", f"{where}[{k}]")
            for k in range(arr.shape[0])]



def read_frames(path: str | Path) -> list[Frame]:
    """The frames of an input: a folder of frame files (natural order, :func:`list_frames`), one
    .npy/.npz sequence file (:func:`read_array_sequence`) or one frame file (one frame)."""
    path = Path(path)
    if path.is_dir():
        return [read_frame(p) for p in list_frames(path)]
    if path.is_file() and path.suffix.lower() in (".npy", ".npz"):
        return read_array_sequence(path)
    if path.is_file():
        return [read_frame(path)]
    raise CatlasError(f"{path}: no such file or folder")

# ---------------------------------------------------------------------------------- arrays

def load_npy(path: str | Path, where: str | None = None) -> np.ndarray:
    """An .npy array, its header's shape and dtype checked against the file's size first (so a
    header claiming more data than the file holds is refused before anything is allocated)."""
    path = Path(path)
    where = where or str(path)
    _check_magic(path, where)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            shape, dtype, offset = _npy_header(fh, where)
            _check_npy_size(shape, dtype, size - offset, where)
            fh.seek(0)
            return np.lib.format.read_array(fh, allow_pickle=False)
    except CatlasError:
        raise
    except _READ_ERRORS as e:
        raise CatlasError(f"{where}: cannot read .npy file ({_short(e)})") from None


def npz_keys(path: str | Path, where: str | None = None) -> set[str]:
    """The array names of an .npz file (``x`` for a member ``x.npy``)."""
    path = Path(path)
    where = where or str(path)
    _check_magic(path, where)
    try:
        with zipfile.ZipFile(path) as zf:
            return set(_npz_members(zf))
    except _READ_ERRORS as e:
        raise CatlasError(f"{where}: cannot read array file ({_short(e)})") from None


def load_npz_arrays(path: str | Path, keys: list[str] | None = None,
                    where: str | None = None) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (default: all) of an .npz file. Each member's .npy header is checked
    against the member's uncompressed size (and that against its stored size) before reading."""
    path = Path(path)
    where = where or str(path)
    _check_magic(path, where)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = _npz_members(zf)
            for key in (list(members) if keys is None else keys):
                if key not in members:
                    raise CatlasError(f"{where}: no array {key!r} (found: "
                                      f"{', '.join(sorted(members)) or 'none'})")
                info, label = members[key], f"{where} (array {key!r})"
                _check_zip_member(info, label)
                with zf.open(info) as fh:
                    shape, dtype, offset = _npy_header(fh, label)
                _check_npy_size(shape, dtype, info.file_size - offset, label)
                with zf.open(info) as fh:
                    out[key] = np.lib.format.read_array(fh, allow_pickle=False)
    except CatlasError:
        raise
    except _READ_ERRORS as e:
        raise CatlasError(f"{where}: cannot read array file ({_short(e)})") from None
    return out


def _npz_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    return {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i
            for i in zf.infolist() if not i.is_dir()}


def _check_zip_member(info: zipfile.ZipInfo, label: str) -> None:
    """A member's declared uncompressed size must be one its stored bytes can hold (deflate
    expands at most about 1032:1), so that the size check of its header means something."""
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise CatlasError(f"{label}: zip member declares {info.file_size:,} bytes but stores "
                          f"{info.compress_size:,} (uncompressed)")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > 1100 * info.compress_size + 1024:
        raise CatlasError(f"{label}: zip member declares {info.file_size:,} bytes, more than its "
                          f"{info.compress_size:,} deflated bytes can hold")


def _npy_header(fh, label: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from the .npy header at the start of ``fh``."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise CatlasError(f"{label}: unsupported .npy format version "
                              f"{version[0]}.{version[1]} (expected 1.0 or 2.0)")
    except CatlasError:
        raise
    except (ValueError, EOFError, SyntaxError, TypeError) as e:
        raise CatlasError(f"{label}: not a valid .npy array ({_short(e)})") from None
    return tuple(int(d) for d in shape), dtype, fh.tell()


def _check_npy_size(shape: tuple[int, ...], dtype: np.dtype, available: int, label: str) -> None:
    """The bytes a header declares (shape x itemsize) must be exactly the bytes that follow it."""
    if dtype.hasobject:
        raise CatlasError(f"{label}: holds Python objects (dtype {dtype}), not numbers; "
                          "catlas does not load pickled data")
    if any(d < 0 for d in shape):
        raise CatlasError(f"{label}: .npy header declares a negative dimension, shape {shape}")
    need = math.prod(shape) * dtype.itemsize
    if need != available:
        raise CatlasError(f"{label}: .npy header declares shape {shape} of {dtype} ({need:,} bytes) "
                          f"but {max(available, 0):,} bytes of array data follow the header")


def _check_magic(path: Path, where: str) -> None:
    """Reject files that are not .npy/.npz before numpy tries (and misreports) a pickle."""
    magic = {".npy": b"\x93NUMPY", ".npz": b"PK"}[path.suffix.lower()]
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(magic))
    except OSError as e:
        raise CatlasError(f"{where}: cannot read file ({_short(e)})") from None
    if head != magic:
        raise CatlasError(f"{where}: not a {path.suffix.lower()} file (wrong header)")


def _read_npy_frame(path: Path, where: str) -> np.ndarray:
    """.npy frame: (N,3), or (N,>=3) with the first 3 columns used."""
    arr = load_npy(path, where)
    if arr.ndim == 2 and arr.shape[1] > 3:
        arr = arr[:, :3]
    return arr


# ---------------------------------------------------------------------------------- checks

def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


def _make_frame(points: np.ndarray, faces: np.ndarray | None, name: str, where: str = "") -> Frame:
    """Validate and convert to a Frame (messages name ``where``, else ``name``)."""
    where = where or name
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.number) or np.issubdtype(points.dtype, np.complexfloating):
        raise CatlasError(f"{where}: coordinates are not real numbers (dtype {points.dtype})")
    if points.ndim != 2 or points.shape[1] != 3:
        raise CatlasError(f"{where}: expected points of shape (N, 3), got {tuple(points.shape)}")
    if len(points) == 0:
        raise CatlasError(f"{where}: contains no points")
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise CatlasError(f"{where}: contains NaN or inf coordinates")
    big = np.abs(points) > F32_MAX
    if big.any():
        raise CatlasError(f"{where}: coordinate {points[big][0]:g} is outside float32 range "
                          f"(|x| <= {F32_MAX:.4g}; catlas trains in float32)")
    if faces is not None:
        faces = np.asarray(faces)
        if faces.size == 0:
            faces = None
        else:
            if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
                raise CatlasError(f"{where}: faces must be integers of shape (F, 3), "
                                  f"got {faces.dtype} {tuple(faces.shape)}")
            if faces.min() < 0 or faces.max() >= len(points):
                raise CatlasError(f"{where}: face indices out of range [0, {len(points) - 1}] "
                                  f"(found {faces.min()}..{faces.max()})")
            faces = faces.astype(np.int64)
    return Frame(points=points, faces=faces, name=name, source=where)


def _fan(poly: list[int]) -> list[tuple[int, int, int]]:
    """Fan triangulation (v0, vi, vi+1) of one polygon."""
    return [(poly[0], poly[i], poly[i + 1]) for i in range(1, len(poly) - 1)]


def _fan_all(lengths: np.ndarray, flat: np.ndarray, where: str) -> np.ndarray:
    """Fan triangulation (v0, vi, vi+1) of polygons given as lengths (F,) and their concatenated
    vertex indices; (T, 3) int64."""
    lengths = np.asarray(lengths, np.int64)
    flat = np.asarray(flat, np.int64)
    if len(lengths) and lengths.min() < 3:
        k = int(np.argmin(lengths))
        raise CatlasError(f"{where}: face {k} has {lengths[k]} vertex indices; a face needs at least 3")
    if (lengths == 3).all():
        return flat.reshape(-1, 3)
    ntri = lengths - 2
    first = np.repeat(np.cumsum(lengths) - lengths, ntri)
    i = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri) + 1
    return flat[np.stack([first, first + i, first + i + 1], axis=1)]


# ---------------------------------------------------------------------------------- text formats

# Not trimesh's OBJ loader: with ``vt`` it drops vertices no face uses (vertex order and count
# then differ from the GT's), and a bad line is an IndexError / ValueError without its line number.
def _read_obj(path: Path, where: str) -> tuple[np.ndarray, np.ndarray | None]:
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
        raise CatlasError(f"{where}: not a text OBJ file") from None
    except ValueError as e:
        raise CatlasError(f"{where}: malformed OBJ ({e})") from None
    faces = np.array(tris, dtype=np.int64).reshape(-1, 3) if tris else None
    return np.array(verts, dtype=np.float64).reshape(-1, 3), faces


_SEP = re.compile(r"[,\s]+")


def _read_text(path: Path, where: str) -> np.ndarray:
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
        raise CatlasError(f"{where}: not a text file") from None
    except ValueError as e:
        raise CatlasError(f"{where}: malformed point file ({e})") from None
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


#: OFF header keyword -> the numbers a vertex line may hold (coordinates, normals, colour)
_OFF_COLUMNS = {"OFF": (3,), "COFF": (6, 7), "NOFF": (6,), "CNOFF": (9, 10), "NCOFF": (9, 10)}


def _read_off(path: Path, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """ASCII OFF: the counts line "V F E" must match the body exactly (V vertex lines, then F face
    lines; ``#`` comments and blank lines aside); polygons are fan-triangulated."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CatlasError(f"{where}: not a text OFF file (binary OFF is not supported)") from None
    rows = []  # (line number, tokens) of the non-empty lines
    for lineno, line in enumerate(text.splitlines(), 1):
        tok = line.split("#", 1)[0].split()
        if tok:
            rows.append((lineno, tok))
    if not rows or rows[0][1][0] not in _OFF_COLUMNS:
        raise CatlasError(f"{where}: not an OFF file (the first line must be OFF; "
                          f"also accepted: {', '.join(sorted(set(_OFF_COLUMNS) - {'OFF'}))})")
    kind, rest = rows[0][1][0], rows[0][1][1:]
    if rest and rest[0].upper() == "BINARY":
        raise CatlasError(f"{where}: binary OFF is not supported; write it as text")
    if rest:  # "OFF V F E" on one line
        counts_line, counts, body = rows[0][0], rest, rows[1:]
    elif len(rows) > 1:
        counts_line, counts, body = rows[1][0], rows[1][1], rows[2:]
    else:
        raise CatlasError(f"{where}: OFF file has no counts line (VERTICES FACES EDGES)")
    if len(counts) not in (2, 3) or not all(c.isdigit() for c in counts):
        raise CatlasError(f"{where}: line {counts_line}: expected the counts 'VERTICES FACES EDGES' "
                          f"(non-negative integers), got {' '.join(counts)!r}")
    nv, nf = int(counts[0]), int(counts[1])
    if nv + nf != len(body):
        raise CatlasError(f"{where}: OFF header declares {nv:,} vertices and {nf:,} faces "
                          f"({nv + nf:,} lines) but the body has {len(body):,} non-empty lines")
    ncols = _OFF_COLUMNS[kind]
    for lineno, tok in body[:nv]:
        if len(tok) not in ncols:
            raise CatlasError(f"{where}: line {lineno}: a {kind} vertex line holds "
                              f"{' or '.join(map(str, ncols))} numbers, found {len(tok)}")
    try:
        points = np.array([tok[:3] for _, tok in body[:nv]], dtype=np.float64).reshape(-1, 3)
    except ValueError as e:
        raise CatlasError(f"{where}: malformed OFF vertex ({_short(e)})") from None
    if nf == 0:
        return points, None
    ftok = [tok for _, tok in body[nv:]]
    if all(len(t) == 4 and t[0] == "3" for t in ftok):  # all triangles, no colours: at once
        try:
            return points, np.array(ftok, dtype=np.int64)[:, 1:]
        except ValueError:
            pass  # found and reported, with its line, below
    lengths, flat = [], []
    for lineno, tok in body[nv:]:
        try:
            n = int(tok[0])
            idx = [int(t) for t in tok[1:1 + n]]
        except ValueError:
            raise CatlasError(f"{where}: line {lineno}: face indices must be integers, "
                              f"got {' '.join(tok)!r}") from None
        if n < 3 or len(tok) - 1 - n not in (0, 1, 3, 4):  # optional colour: index, RGB or RGBA
            raise CatlasError(f"{where}: line {lineno}: face declares {n} vertices but the line "
                              f"holds {len(tok) - 1} values after the count (expected {n}, or "
                              f"{n} plus a colour of 1, 3 or 4 values; a face needs >= 3)")
        lengths.append(n)
        flat.extend(idx)
    return points, _fan_all(np.array(lengths), np.array(flat, dtype=np.int64), where)


# ---------------------------------------------------------------------------------- PLY
# PLY is parsed here rather than by trimesh: trimesh reads an ASCII body as one stream of numbers,
# so a body with fewer vertex lines than declared is silently read with face rows as points, and
# it trusts the declared counts of a binary body; this reader checks every count against the body.

_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
              "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
              "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
              "float64": "f8"}
_STRUCT = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}
_PLY_FACE_LISTS = ("vertex_indices", "vertex_index")


@dataclass
class _PlyProperty:
    name: str
    code: str  # numpy type code without byte order: "f4", "u1", ...
    count_code: str | None = None  # the list length's type, for list properties

    @property
    def size(self) -> int:
        return int(self.code[1])


@dataclass
class _PlyElement:
    name: str
    count: int
    props: list[_PlyProperty]

    @property
    def has_lists(self) -> bool:
        return any(p.count_code for p in self.props)

    def min_row_bytes(self) -> int:
        """Bytes of a binary row with every list empty."""
        return sum(int(p.count_code[1]) if p.count_code else p.size for p in self.props)


def _read_ply(path: Path, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """PLY (ascii, binary_little_endian, binary_big_endian): element ``vertex`` with x, y, z and
    optional element ``face`` with a list ``vertex_indices`` (or ``vertex_index``); other
    properties and elements are read (to check the layout) and ignored."""
    data = path.read_bytes()
    fmt, elements, start = _ply_header(data, where)
    byname = {e.name: e for e in elements}
    vertex = byname.get("vertex")
    if vertex is None:
        raise CatlasError(f"{where}: PLY header declares no 'vertex' element")
    vprops = {p.name: p for p in vertex.props}
    for axis in "xyz":
        if axis not in vprops or vprops[axis].count_code:
            raise CatlasError(f"{where}: PLY vertex element has no scalar property {axis!r}")
    face = byname.get("face")
    flist = None
    if face is not None and face.count:
        flist = next((p for p in face.props if p.name in _PLY_FACE_LISTS and p.count_code), None)
        if flist is None:
            raise CatlasError(f"{where}: PLY face element has no list property 'vertex_indices'")
        if flist.code[0] == "f":
            raise CatlasError(f"{where}: PLY face indices must be integers, not {flist.code}")
    plural = {"vertex": "vertices", "face": "faces"}
    desc = " + ".join(f"{e.count:,} {plural.get(e.name, e.name + ' rows')}" for e in elements)
    body = memoryview(data)[start:]
    if fmt == "ascii":
        values = _ply_ascii(bytes(body), elements, where, desc)
    else:
        values = _ply_binary(body, elements, "<" if fmt == "binary_little_endian" else ">", where, desc)
    v = values["vertex"]
    points = np.stack([np.asarray(v[a], np.float64) for a in "xyz"], axis=1).reshape(-1, 3)
    if flist is None:
        return points, None
    lengths, flat = values["face"][flist.name]
    return points, _fan_all(lengths, flat, where)


def _ply_header(data: bytes, where: str) -> tuple[str, list[_PlyElement], int]:
    """(format, elements, offset of the body) of a PLY file."""
    if not re.match(rb"ply[ \t]*\r?\n", data):
        raise CatlasError(f"{where}: not a PLY file (the first line is not 'ply')")
    fmt, elements, pos, lineno = None, [], 0, 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise CatlasError(f"{where}: PLY header has no end_header line")
        raw, pos, lineno = data[pos:nl], nl + 1, lineno + 1
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise CatlasError(f"{where}: PLY header line {lineno} is not ASCII text") from None
        tok = line.split()
        if lineno == 1 or not tok or tok[0] in ("comment", "obj_info"):
            continue
        if tok[0] == "end_header":
            break
        bad = f"{where}: PLY header line {lineno}: "
        if tok[0] == "format":
            if len(tok) != 3 or tok[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise CatlasError(bad + f"unknown format {' '.join(tok[1:])!r} (expected ascii, "
                                  "binary_little_endian or binary_big_endian)")
            fmt = tok[1]
        elif tok[0] == "element":
            if len(tok) != 3 or not tok[2].isdigit():
                raise CatlasError(bad + f"expected 'element NAME COUNT', got {line!r}")
            if any(e.name == tok[1] for e in elements):
                raise CatlasError(bad + f"element {tok[1]!r} declared twice")
            elements.append(_PlyElement(tok[1], int(tok[2]), []))
        elif tok[0] == "property":
            if not elements:
                raise CatlasError(bad + "property before any element")
            if len(tok) == 5 and tok[1] == "list":
                types, name = tok[2:4], tok[4]
            elif len(tok) == 3:
                types, name = tok[1:2], tok[2]
            else:
                raise CatlasError(bad + f"expected 'property TYPE NAME' or 'property list "
                                  f"COUNT_TYPE TYPE NAME', got {line!r}")
            unknown = [t for t in types if t not in _PLY_TYPES]
            if unknown:
                raise CatlasError(bad + f"unknown type {unknown[0]!r} (known: "
                                  f"{', '.join(_PLY_TYPES)})")
            codes = [_PLY_TYPES[t] for t in types]
            if len(codes) == 2 and codes[0][0] == "f":
                raise CatlasError(bad + f"a list's length type must be an integer type, not {types[0]}")
            if any(p.name == name for p in elements[-1].props):
                raise CatlasError(bad + f"property {name!r} declared twice")
            elements[-1].props.append(_PlyProperty(name, codes[-1], codes[0] if len(codes) == 2 else None))
        else:
            raise CatlasError(bad + f"unknown keyword {tok[0]!r}")
    if fmt is None:
        raise CatlasError(f"{where}: PLY header has no format line")
    return fmt, elements, pos


def _ply_ascii(body: bytes, elements: list[_PlyElement], where: str, desc: str) -> dict:
    """Values of every element of an ASCII body: one non-empty line per declared row, exactly."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise CatlasError(f"{where}: the ASCII PLY body holds non-text bytes") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    need = sum(e.count for e in elements)
    if len(lines) != need:
        raise CatlasError(f"{where}: PLY header declares {desc} ({need:,} lines) but the body has "
                          f"{len(lines):,} non-empty lines")
    out, at = {}, 0
    for e in elements:
        out[e.name] = _ply_ascii_element(lines[at:at + e.count], e, where)
        at += e.count
    return out


def _ply_ascii_element(rows: list[str], e: _PlyElement, where: str) -> dict:
    names = " ".join(p.name for p in e.props)
    if not e.has_lists:
        toks = [r.split() for r in rows]
        bad = next((i for i, t in enumerate(toks) if len(t) != len(e.props)), None)
        if bad is not None:
            raise CatlasError(f"{where}: PLY {e.name} row {bad} holds {len(toks[bad])} values, "
                              f"the header declares {len(e.props)} ({names})")
        try:
            arr = np.array(toks, dtype=np.float64).reshape(len(rows), len(e.props))
        except ValueError as err:
            raise CatlasError(f"{where}: PLY {e.name} rows hold a value that is not a number "
                              f"({_short(err)})") from None
        return {p.name: arr[:, j] for j, p in enumerate(e.props)}
    scalars: dict[str, list[str]] = {p.name: [] for p in e.props if not p.count_code}
    lists: dict[str, tuple[list[int], list[str]]] = {p.name: ([], []) for p in e.props if p.count_code}
    for i, r in enumerate(rows):
        t, j = r.split(), 0
        for p in e.props:
            if j >= len(t):
                raise CatlasError(f"{where}: PLY {e.name} row {i} ends before property {p.name!r}")
            if p.count_code is None:
                scalars[p.name].append(t[j])
                j += 1
                continue
            try:
                n = int(t[j])
            except ValueError:
                raise CatlasError(f"{where}: PLY {e.name} row {i}: list length {t[j]!r} is not "
                                  "an integer") from None
            if n < 0 or j + 1 + n > len(t):
                raise CatlasError(f"{where}: PLY {e.name} row {i} declares {n} values in list "
                                  f"{p.name!r} but holds {len(t) - j - 1}")
            lists[p.name][0].append(n)
            lists[p.name][1].extend(t[j + 1:j + 1 + n])
            j += 1 + n
        if j != len(t):
            raise CatlasError(f"{where}: PLY {e.name} row {i} holds {len(t)} values, its header "
                              f"and list lengths give {j} ({names})")
    out: dict = {}
    try:
        for p in e.props:
            if p.count_code is None:
                out[p.name] = np.array(scalars[p.name], dtype=np.float64)
            else:
                n, vals = lists[p.name]
                dt = np.float64 if p.code[0] == "f" else np.int64
                out[p.name] = (np.array(n, np.int64), np.array(vals, dtype=dt))
    except ValueError as err:
        raise CatlasError(f"{where}: PLY {e.name} rows hold a value that is not a "
                          f"{'number' if p.code[0] == 'f' else 'integer'} ({_short(err)})") from None
    return out


def _ply_binary(body: memoryview, elements: list[_PlyElement], endian: str, where: str,
                desc: str) -> dict:
    """Values of every element of a binary body, which must end exactly after the last row."""
    minimum = sum(e.count * e.min_row_bytes() for e in elements)
    if minimum > len(body):
        raise CatlasError(f"{where}: PLY header declares {desc} (at least {minimum:,} bytes) but "
                          f"only {len(body):,} bytes follow the header (truncated?)")
    out, offset = {}, 0
    for e in elements:
        if e.count == 0 or not e.props:
            out[e.name] = {p.name: (np.zeros(0, np.int64), np.zeros(0)) if p.count_code
                           else np.zeros(0) for p in e.props}
        elif not e.has_lists:  # fits: the bound above counted it in full
            dt = np.dtype([(f"s{j}", endian + p.code) for j, p in enumerate(e.props)])
            arr = np.frombuffer(body, dt, count=e.count, offset=offset)
            offset += e.count * dt.itemsize
            out[e.name] = {p.name: arr[f"s{j}"] for j, p in enumerate(e.props)}
        else:
            out[e.name], offset = _ply_binary_lists(body, e, endian, offset, where)
    if offset != len(body):
        raise CatlasError(f"{where}: {len(body) - offset:,} trailing bytes after the last PLY "
                          f"element (the header declares {desc}, which take {offset:,} bytes)")
    return out


def _ply_binary_lists(body: memoryview, e: _PlyElement, endian: str, offset: int,
                      where: str) -> tuple[dict, int]:
    """Rows of an element with list properties. The first row's list lengths fix a row layout;
    the rows that follow it (all of them for a triangle mesh) are read at once, the rest walked."""
    end = len(body)

    def unpack(code: str, pos: int, row: int, n: int = 1):
        if pos + n * int(code[1]) > end:
            raise CatlasError(f"{where}: PLY header declares {e.count:,} {e.name} rows but the data "
                              f"ends in row {row} (truncated?)")
        return struct.unpack_from(f"{endian}{n}{_STRUCT[code]}", body, pos)

    # the first row's layout
    firstlens, pos = [], offset
    for p in e.props:
        if p.count_code:
            n = unpack(p.count_code, pos, 0)[0]
            if n < 0:
                raise CatlasError(f"{where}: PLY {e.name} row 0: negative list length {n}")
            unpack(p.code, pos + int(p.count_code[1]), 0, n)  # in range?
            firstlens.append(n)
            pos += int(p.count_code[1]) + n * p.size
        else:
            pos += p.size
    fields, lens = [], iter(firstlens)
    for j, p in enumerate(e.props):
        if p.count_code is None:
            fields.append((f"s{j}", endian + p.code))
        else:
            n = next(lens)
            fields.append((f"n{j}", endian + p.count_code))
            if n:
                fields.append((f"v{j}", endian + p.code, (n,)))
    dt = np.dtype(fields)
    fits = min(e.count, (end - offset) // dt.itemsize)
    arr = np.frombuffer(body, dt, count=fits, offset=offset)
    same = np.ones(fits, bool)
    for (j, p), n in zip([(j, p) for j, p in enumerate(e.props) if p.count_code], firstlens):
        same &= arr[f"n{j}"] == n
    k = fits if same.all() else int(np.argmin(same))  # rows [0, k) have the first row's layout
    arr = arr[:k]
    scalars = {p.name: [arr[f"s{j}"].astype(np.float64)] for j, p in enumerate(e.props)
               if not p.count_code}
    lists = {}
    for (j, p), n in zip([(j, p) for j, p in enumerate(e.props) if p.count_code], firstlens):
        vals = arr[f"v{j}"].reshape(-1) if n else np.zeros(0, endian + p.code)
        lists[p.name] = ([np.full(k, n, np.int64)], [vals])
    pos = offset + k * dt.itemsize
    for row in range(k, e.count):  # rows of other layouts: walked one by one
        for p in e.props:
            if p.count_code is None:
                scalars[p.name].append(np.array(unpack(p.code, pos, row), np.float64))
                pos += p.size
            else:
                n = unpack(p.count_code, pos, row)[0]
                if n < 0:
                    raise CatlasError(f"{where}: PLY {e.name} row {row}: negative list length {n}")
                pos += int(p.count_code[1])
                lists[p.name][0].append(np.array([n], np.int64))
                lists[p.name][1].append(np.array(unpack(p.code, pos, row, n), endian + p.code))
                pos += n * p.size
    out: dict = {name: np.concatenate(v) for name, v in scalars.items()}
    for name, (n, v) in lists.items():
        out[name] = (np.concatenate(n), np.concatenate(v))
    return out, pos
