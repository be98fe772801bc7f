"""Degraded copies of a mesh sequence, with the clean ground truth kept (``catlas degrade``).

The input is a mesh sequence whose frames share one connectivity (a built-in example, cat_walk).
Every length is in the input's units; L, the *body length*, is the longest side of frame 0's
vertex bounding box. Kinds and their ``level``:

* ``motion`` (level: degrees per frame, default 5.14): the meshes themselves are moved rigidly,
  frame k rotated by k x level degrees about the up axis (through frame 0's vertex mean) and
  shifted by ``drift`` x L x k / (K - 1) along the horizontal axis (perpendicular to up) on
  which frame 0's bounding box is longest, positive direction. The output stays a mesh
  sequence; its GT is the moved meshes.
* The point-cloud kinds sample N points per frame uniformly on the frame's surface
  (:func:`catlas.data.sampling.sample_surface`, each frame independently) and then:
  ``noise`` (level: sigma / L, default 0.005) adds isotropic Gaussian noise of sigma = level x L;
  ``outliers`` (level: fraction, default 0.02) replaces round(level x N) random points by points
  uniform in the frame's vertex bounding box; ``holes`` (level: fraction, default 0.3) removes the
  round(level x N) points on the far side of a plane with a random normal (per frame);
  ``partial`` (no level) keeps the points whose surface normal faces the camera (n . c > 0, back-
  face culling from one fixed direction c; no self-occlusion), c = + the horizontal axis other
  than the body's long one (a side view). Their GT is the clean input meshes.

Up is ``y`` by default: the built-in examples and cat_walk are y-up (x right, -z forward).

:func:`write_degraded` writes ``OUT/frames/frame_000.ply`` ... (PLY points; OBJ meshes for
``motion``), ``OUT/gt/frame_000.obj`` ... (the GT meshes, same vertex order in every frame) and
``OUT/degrade.json`` (kind, level, seed, source, N, up, and what was applied per frame). Every
file carries catlas's mark (:func:`catlas.data.synthetic.with_mark`), so that ``force`` replaces
only what an earlier run of it wrote.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catlas.config import MAX_POINTS, DataConfig
from catlas.data.io import read_frames
from catlas.data.sampling import points_from_provenance, sample_surface
from catlas.data.synthetic import obj_payload, replaceable_files, with_mark
from catlas.errors import CatlasError, check_int
from catlas.geometry.triangles import face_normals

KINDS = ("motion", "noise", "outliers", "holes", "partial")
DEFAULT_LEVEL: dict[str, float | None] = {"motion": 5.14, "noise": 0.005, "outliers": 0.02,
                                          "holes": 0.3, "partial": None}
"""The issue's levels; ``partial`` takes none."""
LEVEL_MEANING = {"motion": "degrees of rotation about up per frame",
                 "noise": "Gaussian sigma / body length", "outliers": "fraction of points replaced",
                 "holes": "fraction of points removed by a plane", "partial": None}
DEFAULT_POINTS = DataConfig().points_per_frame
"""N, points per frame of the point-cloud kinds: as many as a fit stores per frame (4,000)."""
AXES = {"x": 0, "y": 1, "z": 2}
META_FILE = "degrade.json"
FRAMES_DIR, GT_DIR = "frames", "gt"


@dataclass
class Degraded:
    """A degraded sequence: ``frames`` K arrays (N_k, 3) float64 (input units; meshes over
    ``faces`` for ``motion``, else points), ``gt`` (K, V, 3) float64 over ``faces`` (F, 3), and
    ``info`` (JSON-ready: what was applied)."""

    frames: list[np.ndarray]
    gt: np.ndarray
    faces: np.ndarray
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ pieces

def body_length(vertices: np.ndarray) -> float:
    """The longest side of the bounding box of ``vertices`` (V, 3), in their units."""
    v = np.asarray(vertices, np.float64)
    return float((v.max(axis=0) - v.min(axis=0)).max())


def rotation_about(axis: int, degrees: float) -> np.ndarray:
    """(3, 3) rotation by ``degrees`` about coordinate axis ``axis`` (0 x, 1 y, 2 z), right-handed."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def horizontal_axes(vertices: np.ndarray, up: int) -> tuple[int, int]:
    """(long, side): the two axes perpendicular to ``up``, the one on which the bounding box of
    ``vertices`` (V, 3) is longer first (the first of them on a tie)."""
    h = [a for a in range(3) if a != up]
    ext = np.ptp(np.asarray(vertices, np.float64), axis=0)
    return (h[0], h[1]) if ext[h[0]] >= ext[h[1]] else (h[1], h[0])


def apply_motion(vertices: np.ndarray, up: int, degrees_per_frame: float = 5.14,
                 drift: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move a sequence rigidly: frame k rotated by k x ``degrees_per_frame`` about axis ``up``
    through frame 0's vertex mean, and shifted by ``drift`` x L x k / (K - 1) along the long
    horizontal axis (:func:`horizontal_axes`; L = :func:`body_length` of frame 0).

    vertices (K, V, 3). Returns moved (K, V, 3) float64, rotations R (K, 3, 3) and translations t
    (K, 3), input units: moved[k] = vertices[k] @ R[k].T + t[k].
    """
    v = np.asarray(vertices, np.float64)
    K = len(v)
    pivot = v[0].mean(axis=0)
    d = np.zeros(3)
    d[horizontal_axes(v[0], up)[0]] = 1.0
    step = drift * body_length(v[0]) / max(K - 1, 1)
    R = np.stack([rotation_about(up, k * degrees_per_frame) for k in range(K)])
    t = np.stack([pivot - R[k] @ pivot + k * step * d for k in range(K)])
    return np.einsum("kvj,kij->kvi", v, R) + t[:, None, :], R, t


def sample_frames(vertices: np.ndarray, faces: np.ndarray, n: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points per frame uniformly on the surface (each frame sampled independently, as a fit
    stores its frames). vertices (K, V, 3), faces (F, 3). Returns points (K, n, 3) float64 in
    the vertices' units and the face of each point (K, n) int64."""
    v = np.asarray(vertices, np.float64)
    pts = np.empty((len(v), n, 3))
    fidx = np.empty((len(v), n), np.int64)
    for k in range(len(v)):
        _, fidx[k], bary = sample_surface(v[k], faces, n, rng)
        pts[k] = points_from_provenance(v[k], faces, fidx[k], bary)
    return pts, fidx


def add_noise(points: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``points`` (n, 3) plus isotropic Gaussian noise of standard deviation ``sigma`` per
    coordinate (the points' units)."""
    return np.asarray(points, np.float64) + rng.normal(0.0, sigma, size=np.shape(points))


def add_outliers(points: np.ndarray, fraction: float, lo: np.ndarray, hi: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace round(``fraction`` x n) randomly chosen rows of ``points`` (n, 3) by points uniform
    in the box [lo, hi] (3,). Returns the points (n, 3) and the mask (n,) of the replaced rows."""
    out = np.array(points, np.float64)
    n = len(out)
    mask = np.zeros(n, bool)
    mask[rng.choice(n, size=int(round(fraction * n)), replace=False)] = True
    out[mask] = rng.uniform(lo, hi, size=(int(mask.sum()), 3))
    return out, mask


def cut_by_plane(points: np.ndarray, fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Remove the round(``fraction`` x n) rows of ``points`` (n, 3) farthest along a random unit
    normal m (uniform on the sphere): those with p . m > offset, the offset halfway between the
    last kept and the first removed projection. Returns the keep mask (n,), m (3,) and offset
    (the points' units)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    m = rng.normal(size=3)
    m /= np.linalg.norm(m)
    s = p @ m
    n_cut = int(round(fraction * n))
    order = np.argsort(s, kind="stable")
    keep = np.ones(n, bool)
    keep[order[n - n_cut:]] = False
    if n_cut == 0:
        offset = float(s.max()) + 1.0
    elif n_cut == n:
        offset = float(s.min()) - 1.0
    else:
        offset = 0.5 * float(s[order[n - n_cut - 1]] + s[order[n - n_cut]])
    return keep, m, offset


def facing(normals: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Mask (n,) of the ``normals`` (n, 3) that face the camera direction ``camera`` (3,; from the
    object towards the camera): n . c > 0. The others are back faces, culled by a scan from c."""
    return np.asarray(normals, np.float64) @ np.asarray(camera, np.float64) > 0.0


# ------------------------------------------------------------------------------ whole sequences

def read_mesh_sequence(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A mesh sequence with one connectivity: a folder of frames or one .npz (vertices + faces).
    Returns vertices (K, V, 3) float64 (input units), faces (F, 3) int64 and the frames' labels."""
    frames = read_frames(path)
    first = frames[0]
    for f in frames:
        if not f.is_mesh:
            raise CatlasError(f"{f.label}: is a point cloud; catlas degrade needs meshes (it "
                              "samples their surfaces and keeps them as the GT)")
        if len(f.points) != len(first.points) or not np.array_equal(f.faces, first.faces):
            raise CatlasError(f"{f.label}: its vertices or faces differ from {first.label}'s; "
                              "catlas degrade needs frames that share one connectivity (the GT)")
    return np.stack([f.points for f in frames]), first.faces, [f.label for f in frames]


def check_level(kind: str, level: float | None) -> float | None:
    """The level to use (the default for None); CatlasError for an unknown kind or a level out of
    range."""
    if kind not in KINDS:
        raise CatlasError(f"unknown degradation {kind!r} (use {', '.join(KINDS)})")
    if level is None:
        return DEFAULT_LEVEL[kind]
    if kind == "partial":
        raise CatlasError("--level is not used by partial (a single viewpoint; nothing to set)")
    ranges = {"motion": (-360.0, 360.0), "noise": (0.0, 1.0), "outliers": (0.0, 1.0),
              "holes": (0.0, 1.0)}
    lo, hi = ranges[kind]
    ok = isinstance(level, (int, float)) and not isinstance(level, bool) and math.isfinite(level)
    if not ok or not lo <= level <= hi or (kind == "holes" and level == 1.0):
        top = f"{hi:g})" if kind == "holes" else f"{hi:g}]"
        raise CatlasError(f"--level of {kind} ({LEVEL_MEANING[kind]}) must be in [{lo:g}, {top}, "
                          f"got {level!r}")
    return float(level)


def degrade(vertices: np.ndarray, faces: np.ndarray, kind: str, level: float | None = None, *,
            rng: np.random.Generator, n_points: int = DEFAULT_POINTS, up: int = 1,
            drift: float = 1.0) -> Degraded:
    """Degrade a mesh sequence ``vertices`` (K, V, 3) over ``faces`` (F, 3) (input units) as the
    module docstring describes; ``level`` None = the kind's default, ``up`` an axis index,
    ``drift`` (motion) in body lengths over the whole sequence."""
    level = check_level(kind, level)
    check_int("--points", n_points, 1, MAX_POINTS)
    if not (isinstance(drift, (int, float)) and math.isfinite(drift) and abs(drift) <= 1000):
        raise CatlasError(f"--drift (body lengths over the sequence) must be in [-1000, 1000], "
                          f"got {drift!r}")
    v = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    L = body_length(v[0])
    long_axis, side_axis = horizontal_axes(v[0], up)
    info: dict = {"kind": kind, "level": level, "level_meaning": LEVEL_MEANING[kind],
                  "up": "xyz"[up], "body_length": L, "units": "input units"}
    if kind == "motion":
        moved, R, t = apply_motion(v, up, level, drift)
        direction = [float(i == long_axis) for i in range(3)]
        transforms = [np.vstack([np.hstack([R[k], t[k][:, None]]), [0, 0, 0, 1]]).tolist()
                      for k in range(len(v))]
        info.update(drift_body_lengths=drift, drift_direction=direction,
                    pivot=v[0].mean(axis=0).tolist(),
                    transforms=transforms,
                    transforms_meaning="per frame 4x4 T: moved = T @ [x, y, z, 1] of the input")
        return Degraded(frames=list(moved), gt=moved, faces=faces, info=info)

    pts, fidx = sample_frames(v, faces, n_points, rng)
    info["points_per_frame"] = n_points
    frames, per_frame = [], []
    if kind == "noise":
        sigma = level * L
        info["sigma"] = sigma
        frames = [add_noise(p, sigma, rng) for p in pts]
    elif kind == "outliers":
        for k, p in enumerate(pts):
            q, mask = add_outliers(p, level, v[k].min(axis=0), v[k].max(axis=0), rng)
            frames.append(q)
            per_frame.append({"outliers": int(mask.sum())})
    elif kind == "holes":
        for p in pts:
            keep, m, offset = cut_by_plane(p, level, rng)
            frames.append(p[keep])
            per_frame.append({"normal": m.tolist(), "offset": offset, "removed": int((~keep).sum())})
    else:  # partial
        camera = np.zeros(3)
        camera[side_axis] = 1.0
        info["camera"] = camera.tolist()
        for k, p in enumerate(pts):
            keep = facing(face_normals(v[k], faces)[0][fidx[k]], camera)
            frames.append(p[keep])
            per_frame.append({"kept": int(keep.sum())})
    empty = next((k for k, f in enumerate(frames) if len(f) == 0), None)
    if empty is not None:
        raise CatlasError(f"frame {empty}: no points left after {kind} (raise --points)")
    if per_frame:
        info["per_frame"] = per_frame
    return Degraded(frames=frames, gt=v, faces=faces, info=info)


def ply_points_payload(points: np.ndarray) -> bytes:
    """A binary little-endian PLY file's bytes: ``points`` (n, 3) as double x, y, z."""
    p = np.ascontiguousarray(points, dtype="<f8")
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(p)}\nproperty double x\nproperty double y\n"
              "property double z\nend_header\n")
    return header.encode() + p.tobytes()


def write_degraded(input: str | Path, out: str | Path, kind: str, level: float | None = None, *,
                   seed: int = 0, n_points: int = DEFAULT_POINTS, up: str = "y",
                   drift: float = 1.0, force: bool = False) -> dict:
    """Read the mesh sequence ``input``, degrade it (:func:`degrade`, one
    ``np.random.default_rng(seed)``) and write ``out/frames``, ``out/gt`` and ``out/degrade.json``
    (module docstring). Refuses a non-empty ``out`` unless ``force``; with ``force`` it replaces
    only files catlas wrote there (:func:`catlas.data.synthetic.replaceable_files`). Nothing is
    written or removed before every check has passed and the sequence is degraded. Returns the
    information written to degrade.json."""
    input, out = Path(input), Path(out)
    if up not in AXES:
        raise CatlasError(f"--up must be x, y or z, got {up!r}")
    check_int("--seed", seed, 0, 2**32 - 1)
    check_level(kind, level)
    res_in, res_out = input.resolve(), out.resolve()
    if res_out == res_in or res_out in res_in.parents:
        raise CatlasError(f"{out}: holds the input {input}; choose another folder")
    old = replaceable_files(out, force, subfolders=(FRAMES_DIR, GT_DIR))
    vertices, faces, labels = read_mesh_sequence(input)
    d = degrade(vertices, faces, kind, level, rng=np.random.default_rng(seed), n_points=n_points,
                up=AXES[up], drift=drift)
    K = len(d.frames)
    info = {**d.info, "seed": seed, "source": str(input), "n_frames": K,
            "source_frames": labels, "frames": f"{FRAMES_DIR}/ ("
            + ("OBJ meshes" if kind == "motion" else "PLY points") + ")",
            "gt": f"{GT_DIR}/ (OBJ meshes, same vertex order in every frame)"}
    for p in old:
        p.unlink()
    (out / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
    (out / GT_DIR).mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(K - 1)))
    for k in range(K):
        name = f"frame_{k:0{width}d}"
        if kind == "motion":
            (out / FRAMES_DIR / f"{name}.obj").write_bytes(with_mark(obj_payload(d.frames[k], faces), "obj"))
        else:
            (out / FRAMES_DIR / f"{name}.ply").write_bytes(with_mark(ply_points_payload(d.frames[k]), "ply"))
        (out / GT_DIR / f"{name}.obj").write_bytes(with_mark(obj_payload(d.gt[k], faces), "obj"))
    payload = (json.dumps(info, indent=2) + "\n").encode()
    (out / META_FILE).write_bytes(with_mark(payload, "json"))
    return info
