"""The training step's wall time on this machine, and the first step count of a time budget.

:func:`time_steps` times the training step of several configurations interleaved (used by
``catlas bench`` and by :func:`provisional_budget`); the rest of a time budget (the fit's own
calibration, the record in the run folder) is :mod:`catlas.train.budget`, which the training
loop uses, so this timer sits above the loop and the budget below it.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass, field

import torch

from catlas.config import FitConfig
from catlas.device import resolve_device
from catlas.train.budget import ROUNDS, STEPS_PER_ROUND, WARMUP_STEPS, TimeBudget, iterations_for
from catlas.train.loop import TrainState, new_state, training_step
from catlas.train.threads import fit_threads

__all__ = ["StepTimes", "time_steps", "timed_step", "provisional_budget"]


@dataclass
class StepTimes:
    """Wall times of one configuration's training step (seconds), and its peak RSS (MiB)."""

    median_s: float
    """The median over all timed steps."""
    peak_rss_mib: float
    """The process maximum after this configuration's warm-up."""
    round_medians_s: list[float] = field(default_factory=list)
    """The median of each round's steps (interleaved timing); their range is the spread."""


def time_steps(cfgs: dict[str, FitConfig], repeats: int = 5, warmup: int = 2, n_frames: int = 8,
               rounds: int = 3) -> dict[str, StepTimes]:
    """Median wall time of the training step of several configurations, timed interleaved.

    Every configuration gets its own model, optimiser and random clouds (n_frames x
    points_per_frame, the shapes of a real fit) and ``warmup`` untimed steps, one configuration
    after the other (so each one's peak RSS is the process maximum after its warm-up); then
    ``rounds`` rounds time ``repeats`` steps of every configuration in turn. A drift of the
    machine's speed (other load, clocks) so hits all configurations alike, and their ratios are
    much steadier than when each is timed in one block. Returns name -> times: the median over
    all timed steps, with each round's median in ``round_medians_s``.
    """
    prepared = {}
    rss: dict[str, float] = {}
    for name, cfg in cfgs.items():
        device = resolve_device(cfg.device)
        state = new_state(cfg, device)
        g = torch.Generator().manual_seed(0)
        points = torch.rand(n_frames, cfg.data.points_per_frame, 3, generator=g).to(device)
        areas = torch.full((n_frames,), 0.8, device=device)
        prepared[name] = (cfg, state, points, areas)
        for _ in range(warmup):
            timed_step(cfg, state, points, areas)
        rss[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times: dict[str, list[list[float]]] = {name: [] for name in cfgs}
    for _ in range(max(1, rounds)):
        for name, (cfg, state, points, areas) in prepared.items():
            times[name].append([timed_step(cfg, state, points, areas) for _ in range(repeats)])
    out = {}
    for name in prepared:
        every = [t for r in times[name] for t in r]
        out[name] = StepTimes(statistics.median(every), rss[name], [statistics.median(r) for r in times[name]])
    return out


def timed_step(cfg: FitConfig, state: TrainState, points: torch.Tensor, areas: torch.Tensor) -> float:
    """Seconds of one training step, waiting for the device to finish it."""
    cuda = points.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    terms = training_step(state, cfg, points, areas, cfg.train.lr)
    float(terms["loss"])  # a host sync: the step is done
    return time.perf_counter() - t


def provisional_budget(cfg: FitConfig, n_frames: int) -> tuple[int, TimeBudget]:
    """A first step count for cfg's ``train.minutes``, from timing cfg's training step on random
    clouds of the fit's shape (n_frames x data.points_per_frame) with cfg's thread count
    (:mod:`catlas.train.budget`, stage 1)."""
    minutes = cfg.train.minutes
    if minutes is None:
        raise ValueError("cfg.train.minutes is not set")
    with fit_threads([cfg]):
        timing = time_steps({"fit": cfg}, repeats=STEPS_PER_ROUND, warmup=WARMUP_STEPS,
                            n_frames=n_frames, rounds=ROUNDS)["fit"]
    return iterations_for(minutes, timing.median_s), TimeBudget(float(minutes), timing.median_s)
