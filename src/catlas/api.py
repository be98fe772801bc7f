"""The main job as a function: ``fit(input, out)`` -> a :class:`~catlas.run.Run`."""

from __future__ import annotations

import copy
import dataclasses
import json
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from catlas.config import FitConfig, make_config
from catlas.data import Sequence, load_sequence
from catlas.errors import CatlasError
from catlas.fileio import atomic_write_text
from catlas.run import CONFIG, SEQUENCE, SUMMARY, Run, load_run, resolve_device
from catlas.train.budget import provisional_budget, read_budget, write_budget
from catlas.train.checkpoint import has_checkpoint, load_checkpoint
from catlas.train.distributed import DataParallel, init_from_env, on_main
from catlas.train.loop import new_state, train
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
    overwrite: replace an existing run folder (only one that holds a catlas run, or is empty).

    Under ``torchrun`` (WORLD_SIZE > 1) the fit runs data-parallel over the processes; see
    :mod:`catlas.train.distributed`. Only rank 0 writes files; every rank returns the Run.
    """
    out = Path(out)
    t_wall = time.perf_counter()
    par = init_from_env()  # None in a single process
    if resume:
        cfg, seq, state = _prepare_resume(out, overrides, par)
    else:
        if input is None:
            raise CatlasError("no input given (a folder of frames or a .npy/.npz file)")
        cfg = config if config is not None else make_config(preset, overrides)
        if par is not None:
            par.check_config(cfg)
            if cfg.train.minutes is not None:
                raise CatlasError("train.minutes (a time budget) is not supported under torchrun; "
                                  "give train.iterations")
        on_main(par, lambda: _claim_run_dir(out, overwrite))
        seq = load_sequence(input, cfg.data, np.random.default_rng(cfg.train.seed))
        if cfg.loss.method == "dsr" and seq.areas is None:
            raise CatlasError(f"{input}: method dsr needs surface areas; give meshes, not point clouds")
        budget = None
        if cfg.train.minutes is not None:  # a first count; the loop recomputes it from its own steps
            cfg = copy.deepcopy(cfg)  # the fit changes its count in place, not the caller's config
            cfg.train.iterations, budget = provisional_budget(cfg, seq.n_frames)
            if progress:
                print(budget.describe(), file=sys.stderr)
        device = resolve_device(cfg.device)
        if par is not None:
            device = par.device(device)

        def write_inputs() -> None:
            out.mkdir(parents=True, exist_ok=True)
            cfg.save(out / CONFIG)
            seq.save_npz(out / SEQUENCE)
            if budget is not None:
                write_budget(out, budget)

        on_main(par, write_inputs)
        state = new_state(cfg, device, seq.n_frames)
    if par is not None:
        par.attach(state, cfg)
    device = next(state.model.parameters()).device
    points = torch.as_tensor(seq.points, dtype=torch.float32, device=device)
    areas = None if seq.areas is None else torch.as_tensor(seq.areas, dtype=torch.float32, device=device)
    start_iteration = state.iteration
    with fit_threads([cfg]) as n_threads:  # the caller's thread count comes back afterwards
        last = train(out, cfg, state, points, areas, progress=progress)
    run = load_run(out, device=str(device))
    if par is not None and not par.is_main:
        return run  # rank 0 writes the meshes and the summary
    run.write_meshes()
    summary = {
        "method": cfg.loss.method,
        "iterations": state.iteration,
        "frames": seq.n_frames,
        "final_losses": last,
        "train_seconds": round(state.elapsed, 3),
        "seconds_per_iteration": round(state.elapsed / max(state.iteration, 1), 5),
        "session_iterations": state.iteration - start_iteration,
        "session_wall_seconds": round(time.perf_counter() - t_wall, 3),
        "device": str(device),
        "threads": n_threads,
        "processes": 1 if par is None else par.world_size,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    spent = read_budget(out)
    if spent is not None:
        summary["time_budget"] = dataclasses.asdict(spent)
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return run


def _claim_run_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CatlasError(f"{out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise CatlasError(f"{out}: run folder exists; use --resume to continue it or --overwrite to replace it")
    if not (out / CONFIG).exists():
        raise CatlasError(f"{out}: not a catlas run folder (no {CONFIG}); refusing to delete it")
    shutil.rmtree(out)


def _prepare_resume(out: Path, overrides: dict[str, Any] | None, par: DataParallel | None = None):
    if not (out / CONFIG).exists():
        raise CatlasError(f"{out}: nothing to resume (no {CONFIG})")
    cfg = FitConfig.load(out / CONFIG)
    overrides = overrides or {}
    if set(overrides) - {"train"} or set(overrides.get("train", {})) - {"iterations"}:
        raise CatlasError(f"{out}: only train.iterations can change on resume")
    if "iterations" in overrides.get("train", {}):
        cfg.train.iterations = int(overrides["train"]["iterations"])
        cfg.train.minutes = None  # an explicit count replaces a time budget not yet calibrated
        on_main(par, lambda: cfg.save(out / CONFIG))
    if par is not None:
        par.check_config(cfg)
    seq = Sequence.load_npz(out / SEQUENCE)
    device = resolve_device(cfg.device)
    if par is not None:
        device = par.device(device)
    state = new_state(cfg, device, seq.n_frames)
    if has_checkpoint(out):
        state.load_state_dict(load_checkpoint(out, map_location=device))
    else:
        warnings.warn(f"{out}: no checkpoint yet; starting from iteration 0")
    return cfg, seq, state
