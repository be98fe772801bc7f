"""Checkpoints that survive a kill at any moment and never unpickle code.

Layout inside a run folder::

    checkpoints/iter_0000500.pt   model, optimiser, iteration, RNG state, config (weights only)
    checkpoint.json               {"file": "checkpoints/iter_0000500.pt", "sha256": ..., "iteration": 500}

The weights file is written under a temporary name and renamed; the pointer is then replaced
atomically and only after that is the previous weights file deleted. A kill at any point leaves
a pointer to a complete file whose hash matches. Loading checks the hash (a modified or
truncated file is reported, not loaded) and uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from catlas.errors import CatlasError
from catlas.fileio import atomic_write_bytes, atomic_write_text
from catlas.runfiles import CHECKPOINT as POINTER
from catlas.runfiles import CHECKPOINT_DIR, SNAPSHOT_INDEX, iteration_file
from catlas.runfiles import SNAPSHOT_DIR as SNAPSHOTS


def save_checkpoint(run_dir: Path, state: dict[str, Any], iteration: int) -> Path:
    """Write ``state`` (tensors, numbers, strings, nested dicts/lists) as the run's checkpoint."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    rel = Path(CHECKPOINT_DIR) / iteration_file(iteration)
    atomic_write_bytes(run_dir / rel, data)
    old = _read_pointer(run_dir) if (run_dir / POINTER).exists() else None
    pointer = {"file": rel.as_posix(), "sha256": hashlib.sha256(data).hexdigest(), "iteration": iteration}
    atomic_write_text(run_dir / POINTER, json.dumps(pointer, indent=2) + "\n")
    if old is not None and old.get("file") != pointer["file"]:
        (run_dir / old["file"]).unlink(missing_ok=True)
    return run_dir / rel


def save_snapshot(run_dir: Path, model_state: dict[str, Any], iteration: int) -> Path:
    """Keep the weights at ``iteration`` for later (learning curves): ``snapshots/iter_N.pt``,
    its SHA-256 recorded in ``snapshots/index.json``."""
    buf = io.BytesIO()
    torch.save({"model": model_state, "iteration": iteration}, buf)
    data = buf.getvalue()
    rel = iteration_file(iteration)
    atomic_write_bytes(run_dir / SNAPSHOTS / rel, data)
    index_path = run_dir / SNAPSHOTS / SNAPSHOT_INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[str(iteration)] = {"file": rel, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(index_path, json.dumps(index, indent=2, sort_keys=True) + "\n")
    return run_dir / SNAPSHOTS / rel


def list_snapshots(run_dir: Path) -> list[int]:
    """Iterations for which the run kept a snapshot (ascending)."""
    index_path = run_dir / SNAPSHOTS / SNAPSHOT_INDEX
    if not index_path.exists():
        return []
    return sorted(int(k) for k in json.loads(index_path.read_text()))


def load_snapshot(run_dir: Path, iteration: int, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify the snapshot kept at ``iteration``."""
    index_path = run_dir / SNAPSHOTS / SNAPSHOT_INDEX
    try:
        entry = json.loads(index_path.read_text())[str(iteration)]
    except (OSError, ValueError, KeyError):
        raise CatlasError(f"{index_path}: no snapshot at iteration {iteration}") from None
    return _verified_load(run_dir / SNAPSHOTS / Path(entry["file"]).name, entry["sha256"], index_path,
                          map_location)


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify the run's current checkpoint; CatlasError naming the file on any problem."""
    pointer = _read_pointer(run_dir)
    return _verified_load(run_dir / pointer["file"], pointer.get("sha256"), run_dir / POINTER, map_location)


def _verified_load(path: Path, sha256: str | None, record: Path,
                   map_location: str | torch.device) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CatlasError(f"{path}: cannot read checkpoint ({e.strerror})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CatlasError(f"{path}: checksum does not match {record} (file modified or corrupted)")
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for bad archives / forbidden globals
        text = str(e).strip()
        if "weights_only" in text or "Weights only load failed" in text:
            # torch's message advises loading with weights_only=False: unsafe for a file that
            # holds more than weights, so it is not repeated
            why = "it holds Python objects besides tensors; catlas loads weights only"
        else:
            why = text.splitlines()[0] if text else type(e).__name__
        raise CatlasError(f"{path}: not a loadable catlas checkpoint ({why})") from None
    if not isinstance(state, dict) or "model" not in state or "iteration" not in state:
        raise CatlasError(f"{path}: not a catlas checkpoint (missing model or iteration)")
    return state


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / POINTER).exists()


def _read_pointer(run_dir: Path) -> dict[str, Any]:
    path = run_dir / POINTER
    try:
        pointer = json.loads(path.read_text())
    except FileNotFoundError:
        raise CatlasError(f"{path}: no checkpoint in this run folder") from None
    except (OSError, ValueError) as e:
        raise CatlasError(f"{path}: unreadable checkpoint pointer ({e})") from None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("file"), str):
        raise CatlasError(f"{path}: malformed checkpoint pointer")
    if Path(pointer["file"]).is_absolute() or ".." in Path(pointer["file"]).parts:
        raise CatlasError(f"{path}: checkpoint pointer leaves the run folder")
    return pointer
