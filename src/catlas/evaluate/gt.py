"""Ground-truth vertices for evaluation, in a run's normalised units."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catlas.data.io import list_frames, read_array_sequence, read_frame
from catlas.errors import CatlasError

if TYPE_CHECKING:
    from catlas.run import Run

__all__ = ["load_gt", "load_gt_faces"]


def load_gt(run: "Run", path: str | Path | None = None) -> np.ndarray:
    """GT vertices ``(K, V, 3)`` float64 in the run's normalised units (same vertex = same index).

    path: a folder of frames or one sequence file, in the input's units (any format catlas
    reads); it is normalised with the run's centre and scale, GT frame k with input frame k's
    centre when the run was centred per frame (``data.center_frames``: the same shift as the
    input's, not the GT's own centroid). None: the vertices stored with the run (fits on meshes
    that share connectivity).
    """
    seq = run.sequence
    if path is None:
        if seq.vertices is None:
            raise CatlasError(f"{run.path}: the run stores no GT vertices (not fit on meshes with "
                              "shared connectivity); give --gt")
        return seq.vertices.astype(np.float64)
    path = Path(path)
    frames = _read_gt_frames(path)
    if len(frames) != run.n_frames:
        raise CatlasError(f"{path}: {len(frames)} GT frames but the run has {run.n_frames}")
    counts = {len(f.points) for f in frames}
    if len(counts) != 1:
        bad = next(f for f in frames if len(f.points) != len(frames[0].points))
        raise CatlasError(f"{bad.label}: {len(bad.points)} vertices but {frames[0].label} has "
                          f"{len(frames[0].points)}; GT frames must share one vertex order")
    V = counts.pop()
    if seq.vertices is not None and seq.vertices.shape[1] != V:
        raise CatlasError(f"{path}: GT has {V} vertices per frame but the run's input had "
                          f"{seq.vertices.shape[1]}")
    return seq.to_normalized(np.stack([f.points for f in frames]))  # (K, V, 3): frame k by centre k


def load_gt_faces(run: "Run", path: str | Path | None = None) -> np.ndarray:
    """``(F, 3)`` int64 GT faces (for :func:`catlas.evaluate.evaluate_gt_atlas`).

    path as in :func:`load_gt`: None = the faces the run stored (kept only when every input
    frame had the same faces); else the first GT frame's faces, taken to hold for every frame
    (the frames share one vertex order, which :func:`load_gt` checks; the faces are not compared).
    """
    if path is None:
        faces, source = run.sequence.faces, run.path
    else:
        path = Path(path)
        faces, source = _read_gt_frames(path, first_only=True)[0].faces, path
    if faces is None:
        raise CatlasError(f"{source}: no mesh faces shared by the frames; the GT atlas needs a mesh "
                          "sequence (give --gt with meshes)")
    return np.asarray(faces, np.int64)


def _read_gt_frames(path: Path, first_only: bool = False) -> list:
    """The frames of a GT folder (one file per frame) or sequence file; only the first if asked."""
    if path.is_dir():
        files = list_frames(path)
        return [read_frame(p) for p in (files[:1] if first_only else files)]
    if path.is_file():
        return read_array_sequence(path)[:1] if first_only else read_array_sequence(path)
    raise CatlasError(f"{path}: no such GT file or folder")
