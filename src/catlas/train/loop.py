"""The optimisation loop: Adam, step-decayed learning rate, logging, checkpoints, Ctrl-C."""

from __future__ import annotations

import signal
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm import tqdm

from catlas.config import FitConfig, LossConfig, TrainConfig
from catlas.errors import CatlasError
from catlas.geometry.uv import random_uv
from catlas.losses.ssc import random_rigid_copies, rigid_apply
from catlas.model import AtlasNetwork
from catlas.train.budget import calibrate_if_due
from catlas.train.checkpoint import save_checkpoint, save_snapshot
from catlas.train.distributed import on_main, stop_agreed
from catlas.train.log import LossLog
from catlas.train.objectives import ActiveTerms, RigidCopies, jacobian_samples, step_loss
from catlas.train.pairs import growing_window, sample_pairs, sample_points


class Interrupted(Exception):
    """The fit was stopped by Ctrl-C / SIGTERM after a checkpoint was written."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"interrupted after iteration {iteration}; checkpoint written")
        self.iteration = iteration


@dataclass
class TrainState:
    """What a checkpoint holds besides the config: enough to continue bit-for-bit."""

    model: AtlasNetwork
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # CPU generator for pairs, point draws and UV samples
    iteration: int = 0
    elapsed: float = 0.0  # seconds of training so far, over all sessions
    frame_hits: torch.Tensor | None = None  # (K,) draws per frame, for the curriculum
    parallel: Any = None  # catlas.train.distributed.DataParallel under torchrun; None otherwise

    def state_dict(self, cfg: FitConfig) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "config": cfg.to_yaml(),
            "frame_hits": self.frame_hits,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.iteration = int(state["iteration"])
        self.elapsed = float(state["elapsed"])
        if state.get("frame_hits") is not None:
            self.frame_hits = state["frame_hits"].cpu()


def new_state(cfg: FitConfig, device: torch.device) -> TrainState:
    """A freshly initialised model/optimiser; the seed fixes the weights and every draw.
    The caller's global random state is left as it was:
    the weights are drawn from the CPU generator inside a fork of it (built on the CPU, then
    moved), and the fit draws everything else from ``state.generator``."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(cfg.train.seed)
        model = AtlasNetwork(cfg.model)
    model = model.to(device)
    # the fused kernel (one pass over all parameters) is the same Adam, faster on CPU and GPU
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=fused)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    return TrainState(model, optimizer, generator)


def learning_rate(cfg: TrainConfig, iteration: int) -> float:
    """lr for the step that follows ``iteration`` completed steps: a linear rise over the first
    ``lr_warmup`` of the run, then ``lr``, /10 at each decay point."""
    warmup = int(cfg.lr_warmup * cfg.iterations)
    if iteration < warmup:
        return cfg.lr * (iteration + 1) / warmup
    n_decays = sum(iteration >= int(f * cfg.iterations) for f in cfg.lr_decay_at)
    return cfg.lr * 0.1**n_decays


def training_step(
    state: TrainState, cfg: FitConfig, points: torch.Tensor, areas: torch.Tensor | None, lr: float
) -> dict[str, torch.Tensor]:
    """One optimisation step (the hot path): draw pairs, points and UV, decode, loss, Adam.

    points: (K, S, 3) stored clouds on the model's device; areas: (K,) or None.
    Returns the detached loss terms (no host sync).
    """
    tc, lc = cfg.train, cfg.loss
    device = points.device
    active = ActiveTerms.at(lc, points.shape[0], state.iteration, tc.iterations)
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    frames = _draw_frames(state, tc, lc.tau, points.shape[0], cfg.curriculum()).to(device)
    clouds = sample_points(points, frames, cfg.data.points_per_step, state.generator)
    per_patch = max(1, tc.uv_samples // cfg.model.n_patches)
    uv = random_uv(cfg.model.n_patches, per_patch, state.generator).to(device)
    # loss.alpha_ssc: S rigid transforms per pair (copy 0 the identity), the same for both frames
    rigid = _draw_rigid(state, tc.pairs_per_step, lc, clouds) if lc.alpha_ssc > 0 else None
    model = state.model
    if state.parallel is not None:  # every rank drew the same global batch; keep this rank's pairs
        frames, clouds, model = frames[state.parallel.shard], clouds[state.parallel.shard], state.parallel.ddp
        if rigid is not None:
            rigid = tuple(t[state.parallel.shard] for t in rigid)
    n_jac = jacobian_samples(lc, per_patch, cfg.model.n_patches, active)
    # the encoder sees the first encoded_points() of the N drawn (a random subset), Chamfer all N
    encoded = clouds[:, : cfg.data.encoded_points()]
    copies = None
    if rigid is None:
        xyz, jacobian = model(encoded, uv, jacobian=n_jac)
    else:  # the moved copies go through the same encoder and decoder pass, without Jacobian
        rot, trans = rigid
        B = encoded.shape[0]
        moved = rigid_apply(encoded, rot[:, 1:], trans[:, 1:]).flatten(0, 1)  # (B (S-1), n, 3)
        xyz_all, jacobian = model(torch.cat((encoded, moved)), uv, jacobian=n_jac, jacobian_frames=B)
        xyz = xyz_all[:B]
        copies = RigidCopies(xyz_all[B:].unflatten(0, (B, rot.shape[1] - 1)), rot, trans)
    target_area = areas[frames] if areas is not None else None
    loss, terms = step_loss(xyz, jacobian, clouds, lc, target_area, active,
                              gather=state.parallel.gather if state.parallel is not None else None,
                              copies=copies)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    return terms


def _draw_rigid(state: TrainState, n_pairs: int, lc: LossConfig,
                clouds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """loss.alpha_ssc's transforms of one step, per frame: rot (B, S, 3, 3), trans (B, S, 3); both
    frames of a pair get their pair's draw (copy 0 the identity)."""
    rot, trans = random_rigid_copies(n_pairs, lc.ssc_copies, lc.ssc_translation, state.generator)
    return (rot.repeat_interleave(2, dim=0).to(clouds.device, clouds.dtype),
            trans.repeat_interleave(2, dim=0).to(clouds.device, clouds.dtype))


def _draw_frames(state: TrainState, tc: TrainConfig, tau: int, n_frames: int,
                 curriculum: bool) -> torch.Tensor:
    """(2 * pairs_per_step,) frame indices of one step, through the curriculum when it is on."""
    if not curriculum or n_frames < 2:
        return sample_pairs(n_frames, tc.pairs_per_step, tau, state.generator)
    grow = growing_window(n_frames, tc.iterations, tc.grow_window_init, tc.grow_from, tc.grow_to)
    if state.frame_hits is None:  # created by the first curriculum step, then checkpointed
        state.frame_hits = torch.zeros(n_frames, dtype=torch.int64)
    weights = grow.weights(state.iteration, state.frame_hits)
    partners = None
    if tc.grow_partners == "window":
        lo, hi = grow.window(state.iteration)
        partners = (lo, hi) if hi - lo >= 2 else None
    frames = sample_pairs(n_frames, tc.pairs_per_step, tau, state.generator, weights, partners)
    if grow.started(state.iteration):
        state.frame_hits += torch.bincount(frames[0::2], minlength=n_frames)
    return frames


def train(
    run_dir: Path,
    cfg: FitConfig,
    state: TrainState,
    points: torch.Tensor,
    areas: torch.Tensor | None,
    progress: bool = True,
) -> dict[str, float]:
    """Run steps ``state.iteration .. cfg.train.iterations``; returns the last logged terms.

    points: (K, S, 3) stored clouds on the model's device; areas: (K,) for dsr.
    Checkpoints every ``checkpoint_every`` steps, at the end, and on Ctrl-C / SIGTERM (then
    raises :class:`Interrupted`).

    Each step, in order: the stop point (Ctrl-C / SIGTERM; under torchrun agreed by all ranks,
    :func:`~catlas.train.distributed.stop_agreed`), the step, the budget point (a time budget's
    step count fixed once, :func:`~catlas.train.budget.calibrate_if_due`), the log point, the
    checkpoint point.
    """
    tc, lc = cfg.train, cfg.loss  # tc.iterations may change at the budget point (in place)
    _check_inputs(lc.method, points.shape[0], areas)
    par = state.parallel  # under torchrun: rank 0 alone writes the log and checkpoints
    main = par is None or par.is_main
    log = LossLog(run_dir, state.iteration) if main else None
    window = _LossWindow()
    last: dict[str, float] = {}
    bar = tqdm(total=tc.iterations, initial=state.iteration, disable=not (progress and main),
               desc=f"fit {lc.method}", unit="it", dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 30.0)
    try:
        with _deferred_interrupts() as stop_requested:
            while state.iteration < tc.iterations:
                if stop_agreed(par, stop_requested, state.iteration, tc.log_every):
                    _checkpoint(run_dir, cfg, state)
                    raise Interrupted(state.iteration)

                t0 = time.perf_counter()
                lr = learning_rate(tc, state.iteration)
                terms = training_step(state, cfg, points, areas, lr)
                state.iteration += 1
                state.elapsed += time.perf_counter() - t0

                if calibrate_if_due(run_dir, cfg, state.iteration, state.elapsed):
                    bar.total = tc.iterations
                    bar.refresh()

                window.add(terms)
                bar.update(1)
                if state.iteration % tc.log_every == 0 or state.iteration == tc.iterations:
                    last = window.mean(par)
                    _check_finite(run_dir, state.iteration, last)
                    if log is not None:
                        log.write(state.iteration, state.elapsed, lr, last)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in last.items()}, refresh=False)

                if _checkpoint_due(tc, state.iteration):
                    _checkpoint(run_dir, cfg, state)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return last


def _check_inputs(method: str, n_frames: int, areas: torch.Tensor | None) -> None:
    if n_frames < 2 and method == "mca":
        warnings.warn("only one frame: no pairs for the metric-consistency term; fitting Chamfer only")
    if method == "dsr" and areas is None:
        raise ValueError("method dsr needs each frame's surface area: give meshes, not point clouds")


class _LossWindow:
    """The loss terms summed over the steps since the last log line (tensors: no host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.n = 0

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1

    def mean(self, par: Any = None) -> dict[str, float]:
        """The mean of each term over the window (under torchrun also over the ranks: the
        global batch's values); the window starts over."""
        sums = self.sums if par is None else par.mean_terms(self.sums)
        out = {k: float(v) / self.n for k, v in sums.items()}
        self.sums, self.n = {}, 0
        return out


def _check_finite(run_dir: Path, iteration: int, terms: dict[str, float]) -> None:
    if not all(map(_finite, terms.values())):
        raise CatlasError(
            f"{run_dir}: loss became non-finite at iteration {iteration} "
            f"({terms}); the last checkpoint is intact, try a lower train.lr")


def _checkpoint_due(tc: TrainConfig, iteration: int) -> bool:
    """Every checkpoint_every steps, at the end, and with each snapshot."""
    snapshot_due = tc.snapshot_every and iteration % tc.snapshot_every == 0
    return bool(iteration % tc.checkpoint_every == 0 or iteration == tc.iterations or snapshot_due)


def _checkpoint(run_dir: Path, cfg: FitConfig, state: TrainState) -> None:
    """Write a checkpoint (and a snapshot when one is due); under torchrun rank 0 writes while
    the other ranks wait."""

    def write() -> None:
        save_checkpoint(run_dir, state.state_dict(cfg), state.iteration)
        every = cfg.train.snapshot_every
        if every and state.iteration % every == 0:
            save_snapshot(run_dir, state.model.state_dict(), state.iteration)

    if state.parallel is None:
        write()
    else:
        on_main(state.parallel, write)


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


@contextmanager
def _deferred_interrupts() -> Iterator[callable]:
    """SIGINT/SIGTERM set a flag checked between steps (a second Ctrl-C stops at once)."""
    flag = {"stop": False}
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):  # noqa: ARG001
        if flag["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["stop"] = True

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield lambda: flag["stop"]
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
