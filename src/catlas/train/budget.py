"""A time budget in minutes turned into a number of training steps on this machine.

The learning-rate decay points and the growth curriculum are fractions of ``train.iterations``,
so a budget must be known as steps before the first step. :func:`resolve_time_budget` times the
fit's own step (its configuration, its number of frames, its thread count) for a few seconds and
converts; the fit then runs that many steps, and ``config.yaml`` records them, so the run is
repeated or resumed exactly without timing again.
"""

from __future__ import annotations

from dataclasses import dataclass

from catlas.config import FitConfig, merge_dicts

WARMUP_STEPS, STEPS_PER_ROUND, ROUNDS = 3, 5, 4
"""The timing: 3 untimed steps, then the median of 4 rounds of 5 steps."""


@dataclass(frozen=True)
class TimeBudget:
    """What a fit with ``train.minutes`` measured: minutes -> step time (s) -> iterations."""

    minutes: float
    step_s: float
    iterations: int

    def describe(self) -> str:
        return (f"time budget {self.minutes:g} min: {self.step_s * 1e3:.1f} ms per step on this machine "
                f"-> {self.iterations} iterations")


def iterations_for(minutes: float, step_s: float) -> int:
    """Steps of ``step_s`` seconds that fit in ``minutes`` (at least 1)."""
    return max(1, round(minutes * 60.0 / step_s))


def resolve_time_budget(cfg: FitConfig, n_frames: int) -> tuple[FitConfig, TimeBudget]:
    """cfg with ``train.minutes`` replaced by the iterations that fit that budget here.

    Times cfg's training step on random clouds of the fit's shape (n_frames x
    data.points_per_frame) with cfg's thread count, as :func:`catlas.bench.time_steps` does.
    The budget covers the training steps only (not loading, nor writing meshes at the end).
    Returns the resolved config (``train.minutes`` None, ``train.iterations`` set) and the
    measurement.
    """
    from catlas.bench import fit_threads, time_steps  # bench imports the training loop

    minutes = cfg.train.minutes
    if minutes is None:
        raise ValueError("cfg.train.minutes is not set")
    with fit_threads([cfg]):
        timing = time_steps({"fit": cfg}, repeats=STEPS_PER_ROUND, warmup=WARMUP_STEPS,
                            n_frames=n_frames, rounds=ROUNDS)["fit"]
    budget = TimeBudget(float(minutes), timing.median_s, iterations_for(minutes, timing.median_s))
    resolved = FitConfig.from_dict(merge_dicts(cfg.to_dict(), {"train": {"minutes": None,
                                                                           "iterations": budget.iterations}}))
    return resolved, budget
