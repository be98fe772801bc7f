"""The names of everything catlas writes inside a run folder, in one place.

The fit writes the run itself; ``catlas eval``, ``export`` and ``render`` write into their
default folders below it. :data:`OWN` (used by :mod:`catlas.rundir` to decide whether a folder
may be replaced) is built from these names, so an output added here is also recognised there.
All names are relative to the run folder, "/"-separated.
"""

from __future__ import annotations

import re

# ----------------------------------------------------------------------------- the fit
MARKER = ".catlas-run.json"
"""Marks a folder catlas created (holds the run's identity; see :mod:`catlas.rundir`)."""
LOCK = ".catlas.lock"
"""Locked by the one fit or resume writing the folder."""
CONFIG = "config.yaml"
SEQUENCE = "sequence.npz"
SUMMARY = "summary.json"
TIME_BUDGET = "time_budget.json"
"""Written by a fit with train.minutes: a :class:`catlas.train.budget.TimeBudget` as JSON."""
CHECKPOINT = "checkpoint.json"
"""Points to the current checkpoint file and its SHA-256."""
CHECKPOINT_DIR = "checkpoints"
SNAPSHOT_DIR = "snapshots"
SNAPSHOT_INDEX = "index.json"
"""Inside :data:`SNAPSHOT_DIR`: iteration -> file and SHA-256."""
LOSSES = "losses.csv"
TB_DIR = "tb"
MESH_DIR = "meshes"
"""The fit's OBJ per frame with its material and texture: exactly what ``catlas export RUN
--format obj`` writes into ``export/obj`` (:func:`catlas.export.sequence.export_sequence`)."""


def iteration_file(iteration: int) -> str:
    """``iter_0000500.pt``: a checkpoint or snapshot file name."""
    return f"iter_{iteration:07d}.pt"


# ----------------------------------------------------------------------------- catlas eval
EVAL_DIR = "eval"
METRICS_FILE = "metrics.json"
PAIRS_FILE = "pairs.csv"
DYNOSURF_FILE = "dynosurf.json"
"""``eval --protocol dynosurf``'s figures."""
PLOT_FILE = "pck.png"
OFFSET_PLOT_FILE = "by_offset.png"

# ----------------------------------------------------------------------------- catlas export
EXPORT_DIR = "export"
EXPORT_FORMATS = ("obj", "ply", "glb", "pc2")
TRACKED_MESH_DIR = "mesh"
"""``export --surface mesh``'s folder inside EXPORT_DIR (the one tracked mesh, per format), and
``render --surface mesh``'s inside RENDER_DIR."""
TEXTURE_PNG = "atlas_checker.png"
MATERIAL_MTL = "atlas.mtl"
GLB_FILE = "sequence.glb"
PC2_FILE = "sequence.pc2"
PC2_OBJ = "sequence.obj"
"""The frame-0 mesh a PC2 point cache animates."""

# ----------------------------------------------------------------------------- catlas render
RENDER_DIR = "render"
SURFACE_DIR = "surface"
"""Per-frame pictures of the reconstruction (and ``surface.gif`` / ``.mp4``)."""
SIDE_BY_SIDE_DIR = "side_by_side"
"""Per-frame pictures, input cloud | reconstruction (and ``side_by_side.gif`` / ``.mp4``)."""
CORR_PNG = "correspondences.png"
ERROR_PNG = "correspondence_error.png"


def _alt(*names: str) -> str:
    return "|".join(re.escape(n) for n in names)


_FRAME = r"frame_\d+"
_ITER = r"iter_\d+\.pt"
OWN: list[re.Pattern] = [re.compile(p) for p in (
    _alt(MARKER, LOCK),
    _alt(CONFIG, SEQUENCE, CHECKPOINT, LOSSES, SUMMARY, TIME_BUDGET),
    rf"{re.escape(CHECKPOINT_DIR)}(/{_ITER})?",
    rf"{re.escape(SNAPSHOT_DIR)}(/{re.escape(SNAPSHOT_INDEX)}|/{_ITER})?",
    rf"{re.escape(MESH_DIR)}(/({_FRAME}\.obj|{_alt(MATERIAL_MTL, TEXTURE_PNG)}))?",
    rf"{re.escape(TB_DIR)}(/events\.out\.tfevents\.[^/]+)?",
    rf"{re.escape(EVAL_DIR)}(/[\w-]+\.(json|csv|png))?",
    rf"{re.escape(EXPORT_DIR)}(/{re.escape(TRACKED_MESH_DIR)})?(/({_alt(*EXPORT_FORMATS)})(/({_FRAME}\.(obj|ply)|"
    rf"{_alt(MATERIAL_MTL, TEXTURE_PNG, GLB_FILE, PC2_OBJ, PC2_FILE)}))?)?",
    rf"{re.escape(RENDER_DIR)}(/{re.escape(TRACKED_MESH_DIR)})?(/({_alt(SURFACE_DIR, SIDE_BY_SIDE_DIR)})(/{_FRAME}\.png)?"
    r"|/[\w-]+\.(png|gif|mp4))?",
    r"(.+/)?\.[^/]+\.tmp(\.\w+)?",  # catlas.fileio.atomic_path's temporary names
)]
"""Everything catlas writes inside a run folder (full matches of relative paths): the fit, eval,
export and render with their default destinations, and atomic_path's temporary names."""
