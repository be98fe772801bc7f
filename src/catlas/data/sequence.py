"""A loaded, normalised sequence of frames and its npz round trip (for the run folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catlas.config import DataConfig
from catlas.errors import CatlasError
from catlas.fileio import atomic_path
from catlas.data.io import F32_MAX, Frame, load_npz_arrays, read_frames
from catlas.data.motion import frame_rotations
from catlas.data.sampling import sample_surface, triangle_areas

_ARRAYS = ("points", "vertices", "faces", "sample_faces", "sample_bary", "areas", "frame_centers",
           "frame_rotations")


@dataclass
class Sequence:
    """K frames of S stored points each, in normalised units: frame k's normalised coordinates are
    (input - c_k) / scale, with c_k = ``center`` for every frame, or ``frame_centers[k]`` when the
    sequence was centred per frame (``data.center_frames``); with ``frame_rotations`` (R_k,
    ``data.align_frames``) they are ((input - c_k) / scale) @ R_k. Convert with
    :meth:`to_input_units` and :meth:`to_normalized`, which take the frame(s) into account."""

    points: np.ndarray
    """(K, S, 3) float32, normalised; S = points_per_frame."""
    names: list[str]
    """Per-frame source: file name, or ``f"{file}[k]"`` for array files."""
    center: np.ndarray
    """(3,) float64, input units: the centre of every frame, or frame 0's with ``frame_centers``."""
    scale: float
    """Input units per normalised unit."""
    vertices: np.ndarray | None = None
    """(K, V, 3) float32 normalised; only if all frames are meshes with the same faces (GT by index)."""
    faces: np.ndarray | None = None
    """(F, 3) int64, with ``vertices``."""
    sample_faces: np.ndarray | None = None
    """(K, S) int64: face of ``faces`` each stored point was sampled on (with ``vertices`` only)."""
    sample_bary: np.ndarray | None = None
    """(K, S, 3) float32 barycentrics of the stored points (with ``vertices`` only)."""
    areas: np.ndarray | None = None
    """(K,) float64 surface area per frame in normalised units^2 (mesh input only)."""
    frame_centers: np.ndarray | None = None
    """(K, 3) float64, input units: each frame's own centre (``data.center_frames``: the mean of
    that frame's input points, the vertex mean for meshes); None = ``center`` for every frame
    (runs written before the setting existed have none)."""
    frame_rotations: np.ndarray | None = None
    """(K, 3, 3) float64: each frame's turn back to frame 0's orientation (``data.align_frames``,
    :func:`catlas.data.motion.frame_rotations`; always with ``frame_centers``); None = no turn."""
    source: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_stored(self) -> int:
        """Points stored per frame (S)."""
        return int(self.points.shape[1])

    @property
    def centers(self) -> np.ndarray:
        """(K, 3) float64: the centre of every frame, input units (``frame_centers``, else
        ``center`` repeated)."""
        if self.frame_centers is not None:
            return np.asarray(self.frame_centers, np.float64)
        return np.tile(np.asarray(self.center, np.float64), (self.n_frames, 1))

    def to_input_units(self, x: np.ndarray, frames: int | list[int] | np.ndarray | None = None) -> np.ndarray:
        """Normalised -> input units (float64), frame by frame.

        frames: None = ``x`` holds every frame on its first axis, (K, ..., 3); an int = ``x``
        (..., 3) is that one frame's; a list/array of n frame indices = ``x`` (n, ..., 3) holds
        those frames in that order. Without per-frame centres (``frame_centers`` None) every frame
        has the same centre and, with frames None, ``x`` may be any (..., 3).
        """
        x = np.asarray(x, dtype=np.float64)
        idx = self._frame_index(x, frames)
        return self._turn(x * self.scale, idx, back=True) + self._center_of(x, idx)

    def to_normalized(self, x: np.ndarray, frames: int | list[int] | np.ndarray | None = None) -> np.ndarray:
        """Input units -> normalised (float64); ``frames`` and the shapes as in :meth:`to_input_units`."""
        x = np.asarray(x, dtype=np.float64)
        idx = self._frame_index(x, frames)
        return self._turn((x - self._center_of(x, idx)) / self.scale, idx, back=False)

    def _turn(self, x: np.ndarray, idx: int | np.ndarray | None, back: bool) -> np.ndarray:
        """``x`` turned by its frames' rotations (x @ R_k, or x @ R_k^T with ``back``)."""
        if self.frame_rotations is None or idx is None:
            return x
        R = np.asarray(self.frame_rotations, np.float64)[idx]
        if np.ndim(idx) == 0:
            return x @ (R.T if back else R)
        return np.einsum("n...j,nij->n...i" if back else "n...j,nji->n...i", x, R)

    def _center_of(self, x: np.ndarray, idx: int | np.ndarray | None) -> np.ndarray:
        """The centre(s) of the frames ``idx`` (:meth:`_frame_index`), broadcastable to ``x``."""
        if idx is None:
            return np.asarray(self.center, np.float64)
        if np.ndim(idx) == 0:
            return self.centers[idx]
        c = self.centers[idx]
        return c.reshape((len(c),) + (1,) * (x.ndim - 2) + (3,))

    def _frame_index(self, x: np.ndarray, frames: int | list[int] | np.ndarray | None) -> int | np.ndarray | None:
        """The frame(s) ``x`` belongs to: None (one centre and no turn for every frame, with
        ``frames`` None), an int (``x`` is one frame's), or (n,) int64 (``x`` is (n, ..., 3))."""
        K = self.n_frames
        if x.ndim == 0 or x.shape[-1] != 3:
            raise ValueError(f"expected coordinates (..., 3), got shape {x.shape}")
        if frames is None:
            if self.frame_centers is None and self.frame_rotations is None:
                return None
            if x.ndim < 2 or x.shape[0] != K:
                raise ValueError(f"the sequence is centred per frame: coordinates of every frame "
                                 f"({K}, ..., 3) or the frames they belong to are needed, got shape "
                                 f"{x.shape} and no frames")
            return np.arange(K)
        elif np.ndim(frames) == 0:
            k = int(frames)
            if not -K <= k < K:
                raise IndexError(f"frame {k} out of range (the sequence has {K} frames)")
            return k
        else:
            idx = np.asarray(frames)
            if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
                raise ValueError(f"frames must be an int or a 1-D list of frame indices, got {frames!r}")
            if x.ndim < 2 or x.shape[0] != len(idx):
                raise ValueError(f"coordinates of {len(idx)} frames need shape ({len(idx)}, ..., 3), "
                                 f"got {x.shape}")
            if idx.size and not ((idx >= -K) & (idx < K)).all():
                raise IndexError(f"frames {idx.tolist()} out of range (the sequence has {K} frames)")
            return idx.astype(np.int64)

    def save_npz(self, path: str | Path) -> None:
        """Write every field to ``path`` (.npz, atomically)."""
        d = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        d.update(names=np.array(self.names, dtype=str), center=self.center,
                 scale=np.float64(self.scale), source=np.array(self.source, dtype=str))
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **d)

    @classmethod
    def load_npz(cls, path: str | Path) -> "Sequence":
        """Read a file written by :meth:`save_npz`."""
        path = Path(path)
        if not path.is_file():
            raise CatlasError(f"{path}: sequence file not found")
        d = load_npz_arrays(path)  # every member's declared size checked before it is read
        missing = {"points", "names", "center", "scale"} - set(d)
        if missing:
            raise CatlasError(f"{path}: not a catlas sequence (missing {', '.join(sorted(missing))})")
        fc = d.get("frame_centers")  # absent in files written before data.center_frames
        if fc is not None:
            if fc.shape != (len(d["points"]), 3):
                raise CatlasError(f"{path}: frame_centers has shape {fc.shape}, expected "
                                  f"({len(d['points'])}, 3)")
            d["frame_centers"] = fc.astype(np.float64)
        fr = d.get("frame_rotations")  # absent in files written before data.align_frames
        if fr is not None:
            if fr.shape != (len(d["points"]), 3, 3) or fc is None:
                raise CatlasError(f"{path}: frame_rotations has shape {fr.shape}, expected "
                                  f"({len(d['points'])}, 3, 3) beside frame_centers")
            d["frame_rotations"] = fr.astype(np.float64)
        return cls(points=d["points"], names=[str(n) for n in d["names"]],
                   center=d["center"].astype(np.float64), scale=float(d["scale"]),
                   **{k: d.get(k) for k in _ARRAYS[1:]}, source=str(d.get("source", "")))


def load_sequence(path: str | Path, cfg: DataConfig, rng: np.random.Generator) -> Sequence:
    """Load a folder of frames, one .npy/.npz sequence file, or one frame file (a 1-frame sequence), normalise, and store S points/frame.

    Meshes: S = ``cfg.points_per_frame`` area-weighted surface samples per frame, each frame sampled
    independently. Clouds: a random subset of S points without replacement, or, when a frame has
    fewer than S points, all of them plus extra ones drawn with replacement (so some repeat).
    Normalisation (cfg.normalize): c = mean of frame 0's points (vertex mean for meshes),
    s = longest side of frame 0's bounding box, every frame -> (x - c) / s. With
    cfg.center_frames, frame k is instead shifted by its own c_k (the mean of its points, vertex
    mean for meshes; stored as ``frame_centers``) before the same s: frame k -> (x - c_k) / s.
    cfg.align_frames centres so and then turns frame k back to frame 0's orientation by R_k
    (:func:`catlas.data.motion.frame_rotations`, stored as ``frame_rotations``):
    frame k -> ((x - c_k) / s) @ R_k.
    """
    path = Path(path)
    frames = read_frames(path)
    _check_frames(frames, cfg)

    if cfg.normalize:
        p0 = frames[0].points
        center = p0.mean(axis=0)
        scale = float((p0.max(axis=0) - p0.min(axis=0)).max())
        if not scale > 0.0:
            raise CatlasError(f"{frames[0].label}: all {len(p0)} points coincide at "
                              f"({', '.join(f'{c:g}' for c in p0[0])}); cannot normalise "
                              "(the bounding box has size 0)")
    else:
        center, scale = np.zeros(3), 1.0
    frame_centers = None
    if cfg.center_frames or cfg.align_frames:
        frame_centers = np.stack([f.points.mean(axis=0) for f in frames]).astype(np.float64)
        center = frame_centers[0]
    centers = frame_centers if frame_centers is not None else [center] * len(frames)
    normed = [(f.points - c) / scale for f, c in zip(frames, centers)]
    for f, p, c in zip(frames, normed, centers):  # float64 here; training casts to float32
        reach = float(np.abs(p).max())
        if not reach <= F32_MAX:
            by = "its own centre" if frame_centers is not None else f"frame 0 ({frames[0].label})"
            raise CatlasError(f"{f.label}: normalised by {by} (centre "
                              f"{', '.join(f'{x:g}' for x in c)}, size {scale:g}) its "
                              f"coordinates reach {reach:g}, outside float32 range")
    rotations = None
    if cfg.align_frames:
        rotations = frame_rotations(normed)
        normed = [p @ r for p, r in zip(normed, rotations)]

    S = cfg.points_per_frame
    is_mesh = frames[0].is_mesh
    seq = Sequence(points=np.empty((len(frames), S, 3), np.float32), names=[f.name for f in frames],
                   center=np.asarray(center, np.float64), scale=scale, frame_centers=frame_centers,
                   frame_rotations=rotations,
                   source=str(path))
    if not is_mesh:
        for k, p in enumerate(normed):
            seq.points[k] = _resample_cloud(p, S, rng)
        _check_finite(seq, frames)
        return seq

    shared = all(f.faces.shape == frames[0].faces.shape and np.array_equal(f.faces, frames[0].faces)
                 and len(f.points) == len(frames[0].points) for f in frames)
    fidx = np.empty((len(frames), S), np.int64)
    bary = np.empty((len(frames), S, 3), np.float32)
    areas = np.empty(len(frames), np.float64)
    for k, (f, v) in enumerate(zip(frames, normed)):
        areas[k] = triangle_areas(v, f.faces).sum()
        if not areas[k] > 0.0:
            raise CatlasError(f"{f.label}: mesh has zero surface area")
        if not np.isfinite(areas[k]):
            raise CatlasError(f"{f.label}: mesh surface area overflows (normalised area {areas[k]:g})")
        seq.points[k], fidx[k], bary[k] = sample_surface(v, f.faces, S, rng)
    seq.areas = areas
    if shared:
        seq.vertices = np.stack(normed).astype(np.float32)
        seq.faces = frames[0].faces.copy()
        seq.sample_faces, seq.sample_bary = fidx, bary
    _check_finite(seq, frames)
    return seq


def _check_frames(frames: list[Frame], cfg: DataConfig) -> None:
    """Point-count and mesh/cloud consistency checks (CatlasError naming the frame)."""
    for f in frames:
        if len(f.points) < cfg.min_points:
            raise CatlasError(f"{f.label}: only {len(f.points)} points, at least "
                              f"{cfg.min_points} needed (data.min_points)")
        if f.is_mesh != frames[0].is_mesh:
            kinds = ("a mesh", "a point cloud")
            a, b = (kinds if f.is_mesh else kinds[::-1])
            raise CatlasError(f"{f.label}: is {a} but {frames[0].label} is {b}; "
                              "all frames must be meshes or all point clouds")


def _check_finite(seq: Sequence, frames: list[Frame]) -> None:
    """The float32 training clouds (and stored vertices) must be finite."""
    for name in ("points", "vertices"):
        arr = getattr(seq, name)
        if arr is None:
            continue
        bad = ~np.isfinite(arr).reshape(len(arr), -1).all(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            raise CatlasError(f"{frames[k].label}: its normalised float32 {name} are not finite "
                              f"(NaN or inf); the coordinates are too large for float32")


def _resample_cloud(p: np.ndarray, S: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly S rows of ``p`` (N,3): a subset without replacement if N >= S, else all + padding."""
    n = len(p)
    if n >= S:
        idx = rng.choice(n, size=S, replace=False)
    else:
        idx = rng.permutation(np.concatenate([np.arange(n), rng.choice(n, size=S - n)]))
    return p[idx].astype(np.float32)
