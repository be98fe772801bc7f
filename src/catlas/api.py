"""The main job as a function: ``fit(input, out)`` -> a :class:`~catlas.run.Run`."""

from __future__ import annotations

import copy
import dataclasses
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from catlas.config import FitConfig, make_config
from catlas.data import Sequence, load_sequence
from catlas.data.motion import global_motion_warning
from catlas.data.stray import stray_warning
from catlas.errors import CatlasError
from catlas.export.sequence import export_sequence, mesh_sequence
from catlas.fileio import atomic_write_text
from catlas.device import resolve_device
from catlas.run import CONFIG, SEQUENCE, SUMMARY, Run, load_run
from catlas.rundir import RunClaim, RunLock, check_out_path, check_replaceable
from catlas.runfiles import MESH_DIR
from catlas.train.budget import read_budget, write_budget
from catlas.train.checkpoint import has_checkpoint, load_checkpoint
from catlas.train.distributed import DataParallel, init_from_env, on_main
from catlas.train.log import check_loss_log
from catlas.train.loop import Interrupted, new_state, train
from catlas.train.steptime import provisional_budget
from catlas.train.threads import fit_threads

__all__ = ["fit", "load_run"]


def fit(
    input: str | Path | None,
    out: str | Path,
    *,
    config: FitConfig | None = None,
    preset: str = "fast",
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Run:
    """Fit one atlas to a sequence and write everything to the run folder ``out``.

    input: a folder of per-frame files or one (K, N, 3) .npy/.npz (not needed with ``resume``).
    config: a full :class:`FitConfig`; otherwise ``preset`` plus nested ``overrides``.
    resume: continue the run in ``out`` exactly where its last checkpoint stopped
        (``overrides`` may only change ``train.iterations``, to extend a run).
    overwrite: replace an existing run folder, only one that catlas created and that holds
        nothing else (see :mod:`catlas.rundir`); the old run is kept until the new fit has
        succeeded or stopped resumably, and restored if it fails.

    Under ``torchrun`` (WORLD_SIZE > 1) the fit runs data-parallel over the processes; see
    :mod:`catlas.train.distributed`. Only rank 0 writes files; every rank returns the Run.
    """
    out = Path(out)
    t_wall = time.perf_counter()
    par = init_from_env()  # None in a single process
    main = par is None or par.is_main
    claim: RunClaim | None = None
    lock: RunLock | None = None
    if resume:
        cfg, seq, state, lock = _prepare_resume(out, overrides, par)
    else:
        if input is None:
            raise CatlasError("no input given (a folder of frames or a .npy/.npz file)")
        cfg = config.resolved() if config is not None else make_config(preset, overrides)
        if par is not None:
            par.check_config(cfg)
            if cfg.train.minutes is not None:
                raise CatlasError("train.minutes (a time budget) is not supported under torchrun; "
                                  "give train.iterations")
        device = resolve_device(cfg.device)
        replace = on_main(par, lambda: _check_out(out, Path(input), overwrite))
        seq = load_sequence(input, cfg.data, np.random.default_rng(cfg.train.seed))
        if cfg.loss.method == "dsr" and seq.areas is None:
            raise CatlasError(f"{input}: method dsr needs surface areas; give meshes, not point clouds")
        for hint in (global_motion_warning(seq.points, where=str(input), center_frames=cfg.data.center_frames,
                                           align_frames=cfg.data.align_frames),
                     stray_warning(seq.points, where=str(input), input_trim=cfg.loss.input_trim)):
            if hint is not None:
                warnings.warn(hint)
        budget = None
        if cfg.train.minutes is not None:  # a first count; the loop recomputes it from its own steps
            cfg = copy.deepcopy(cfg)  # the fit changes its count in place, not the caller's config
            cfg.train.iterations, budget = provisional_budget(cfg, seq.n_frames)
            if progress:
                print(budget.describe(), file=sys.stderr)
        if par is not None:
            device = par.device(device)
        if main:
            claim = RunClaim(out, bool(replace), announce=progress)

        def write_inputs() -> None:
            claim.begin()
            try:
                cfg.save(out / CONFIG)
                seq.save_npz(out / SEQUENCE)
                if budget is not None:
                    write_budget(out, budget)
            except BaseException:
                claim.abort(keep=False)
                raise

        on_main(par, write_inputs)
        state = new_state(cfg, device)
    try:
        run, last, n_threads, start_iteration = _train_and_load(out, cfg, seq, state, par, progress)
        if main:
            _write_outputs(run, cfg, seq, state, last, n_threads, start_iteration, par, t_wall)
    except Interrupted:
        if claim is not None:
            claim.commit()  # the new run is resumable: it replaces the old one
        raise
    except BaseException:
        if claim is not None:
            claim.abort(keep=has_checkpoint(out))
        raise
    else:
        if claim is not None:
            claim.commit()
    finally:
        if lock is not None:
            lock.release()
    return run


def _train_and_load(out: Path, cfg: FitConfig, seq: Sequence, state, par: DataParallel | None,
                    progress: bool):
    """Train from ``state`` to ``cfg.train.iterations`` and load the finished run."""
    if par is not None:
        par.attach(state, cfg)
    device = next(state.model.parameters()).device
    points = torch.as_tensor(seq.points, dtype=torch.float32, device=device)
    areas = None if seq.areas is None else torch.as_tensor(seq.areas, dtype=torch.float32, device=device)
    start_iteration = state.iteration
    with fit_threads([cfg]) as n_threads:  # the caller's thread count comes back afterwards
        last = train(out, cfg, state, points, areas, progress=progress)
    run = load_run(out, device=str(device))
    return run, last, n_threads, start_iteration


def _write_outputs(run: Run, cfg: FitConfig, seq: Sequence, state, last: dict[str, float],
                   n_threads: int, start_iteration: int, par: DataParallel | None,
                   t_wall: float) -> None:
    """The meshes and summary.json of a finished fit (rank 0 only)."""
    out = run.path
    # meshes/ holds exactly what `catlas export RUN --format obj` writes into export/obj (one code path)
    export_sequence(mesh_sequence(run), "obj", out / MESH_DIR, overwrite=True)
    summary = {
        "method": cfg.loss.method,
        "iterations": state.iteration,
        "frames": seq.n_frames,
        "final_losses": last,
        "train_seconds": round(state.elapsed, 3),
        "seconds_per_iteration": round(state.elapsed / max(state.iteration, 1), 5),
        "session_iterations": state.iteration - start_iteration,
        "session_wall_seconds": round(time.perf_counter() - t_wall, 3),
        "device": str(run.device),
        "threads": n_threads,
        "processes": 1 if par is None else par.world_size,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    spent = read_budget(out)
    if spent is not None:
        summary["time_budget"] = dataclasses.asdict(spent)
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")


def _check_out(out: Path, input: Path, overwrite: bool) -> bool:
    """Refuse an ``--out`` that may not be written (nothing is touched); True when an existing
    run will be replaced."""
    check_out_path(out, [input])
    return check_replaceable(out, overwrite)


def _prepare_resume(out: Path, overrides: dict[str, Any] | None, par: DataParallel | None = None):
    """Load a run folder to continue it: (config, sequence, train state, the folder's lock or
    None on ranks other than 0). Nothing is written until every check has passed."""
    if not out.is_dir():
        raise CatlasError(f"{out}: nothing to resume (no such run folder)")
    if not (out / CONFIG).exists():
        raise CatlasError(f"{out}: nothing to resume (no {CONFIG})")
    cfg = FitConfig.load(out / CONFIG)
    overrides = overrides or {}
    if set(overrides) - {"train"} or set(overrides.get("train", {})) - {"iterations"}:
        raise CatlasError(f"{out}: only train.iterations can change on resume")
    if par is not None:
        par.check_config(cfg)
    seq = Sequence.load_npz(out / SEQUENCE)
    device = resolve_device(cfg.device)
    if par is not None:
        device = par.device(device)
    lock = on_main(par, lambda: RunLock(out).acquire())
    try:
        state = new_state(cfg, device)
        if has_checkpoint(out):
            state.load_state_dict(load_checkpoint(out, map_location=device))
        else:
            warnings.warn(f"{out}: no checkpoint yet; starting from iteration 0")
        on_main(par, lambda: check_loss_log(out))
        if "iterations" in overrides.get("train", {}):
            n = overrides["train"]["iterations"]
            if isinstance(n, bool) or not isinstance(n, int) or n < state.iteration:
                raise CatlasError(f"{out}: --iterations {n} is below the {state.iteration} steps "
                                  "this run has already made; give at least that many")
            cfg.train.iterations = n
            cfg.train.minutes = None  # an explicit count replaces a time budget not yet calibrated
            on_main(par, lambda: cfg.save(out / CONFIG))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return cfg, seq, state, lock
