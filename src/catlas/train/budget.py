"""A time budget in minutes turned into a number of training steps on this machine.

The learning-rate decay points and the growth curriculum are fractions of ``train.iterations``,
so a budget must be known as steps well before the run's first milestone (the curriculum starts
growing at 15 % of the run, the learning rate drops at 80 %). A fit with ``train.minutes`` does
it in two stages:

1. :func:`catlas.train.steptime.provisional_budget` times the fit's step for a few seconds
   before training (on random clouds of the fit's shape, :func:`catlas.train.steptime.time_steps`)
   and gives a first step count;
2. :func:`calibrated_iterations`, called by the training loop (:func:`calibrate_if_due`) once the fit has spent
   :data:`CALIBRATE_AT` of its budget (or reached 10 % of the provisional count), replaces it
   by the count that the fit's own measured steps give: real clouds, real contention for the
   CPU, no warm-up bias. Before that point no milestone is reached but the end of the `fast`
   preset's learning-rate warm-up (2 % of the provisional count), so the run is the same as one
   started with the final count up to where that warm-up ends. The fit's first 5 % set the count:
   a fit that shares the CPU with other work then runs too few steps (or too many). ``config.yaml`` then records that count (and
   ``train.minutes`` None), so the run repeats or resumes exactly without timing again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from catlas.fileio import atomic_write_text
from catlas.runfiles import CONFIG, TIME_BUDGET

if TYPE_CHECKING:
    from catlas.config import FitConfig

WARMUP_STEPS, STEPS_PER_ROUND, ROUNDS = 3, 5, 4
"""The provisional timing: 3 untimed steps, then the median of 4 rounds of 5 steps."""
CALIBRATE_AT = 0.05
"""Fraction of the budget's time after which the step count is recomputed from the fit's steps."""
CALIBRATE_BY = 0.1
"""... or fraction of the provisional count, whichever comes first (before any milestone)."""


@dataclass(frozen=True)
class TimeBudget:
    """What a fit with ``train.minutes`` measured: minutes -> step time (s) -> iterations.

    timed_step_s: the provisional timing before training; step_s: the mean over the fit's own
    first ``calibrated_at`` steps, which set ``iterations``.
    """

    minutes: float
    timed_step_s: float | None
    step_s: float | None = None
    calibrated_at: int | None = None
    iterations: int | None = None

    def describe(self) -> str:
        if self.step_s is None:
            return (f"time budget {self.minutes:g} min: {self.timed_step_s * 1e3:.1f} ms per step timed "
                    f"-> about {iterations_for(self.minutes, self.timed_step_s)} iterations (recomputed "
                    f"from the fit's own steps after {CALIBRATE_AT:.0%} of the budget)")
        return (f"time budget {self.minutes:g} min: {self.step_s * 1e3:.1f} ms per step over the first "
                f"{self.calibrated_at} steps -> {self.iterations} iterations")


def iterations_for(minutes: float, step_s: float) -> int:
    """Steps of ``step_s`` seconds that fit in ``minutes`` (at least 1)."""
    return max(1, round(minutes * 60.0 / step_s))


def calibration_due(minutes: float, provisional: int, iteration: int, elapsed: float) -> bool:
    """Whether the fit has run long enough (``elapsed`` seconds of ``iteration`` steps) to fix
    its step count: CALIBRATE_AT of the budget, or CALIBRATE_BY of the provisional count."""
    return iteration > 0 and (elapsed >= CALIBRATE_AT * minutes * 60.0 or iteration >= CALIBRATE_BY * provisional)


def calibrated_iterations(minutes: float, iteration: int, elapsed: float) -> int:
    """The step count of a ``minutes`` budget from ``iteration`` steps that took ``elapsed`` s
    (never fewer than the steps already taken)."""
    return max(iteration, iterations_for(minutes, elapsed / iteration))


def write_budget(run_dir: Path, budget: TimeBudget) -> None:
    """Write ``budget`` as the run's :data:`~catlas.runfiles.TIME_BUDGET`."""
    atomic_write_text(run_dir / TIME_BUDGET, json.dumps(asdict(budget), indent=2) + "\n")


def read_budget(run_dir: Path) -> TimeBudget | None:
    """The run's time budget, or None for a fit given in iterations."""
    path = run_dir / TIME_BUDGET
    return TimeBudget(**json.loads(path.read_text())) if path.exists() else None


def calibrate_if_due(run_dir: Path, cfg: FitConfig, iteration: int, elapsed: float) -> bool:
    """The training loop's budget point, after each step: when a time-budgeted fit is due
    (:func:`calibration_due`), fix its step count from its own ``iteration`` steps of ``elapsed``
    seconds, in cfg (in place: train.iterations set, train.minutes None), config.yaml and
    time_budget.json. Returns whether it did (then train.iterations changed)."""
    tc = cfg.train
    if tc.minutes is None or not calibration_due(tc.minutes, tc.iterations, iteration, elapsed):
        return False
    minutes = tc.minutes
    tc.iterations = calibrated_iterations(minutes, iteration, elapsed)
    tc.minutes = None
    earlier = read_budget(run_dir)
    write_budget(run_dir, TimeBudget(minutes, earlier.timed_step_s if earlier else None,
                                     elapsed / iteration, iteration, tc.iterations))
    cfg.save(run_dir / CONFIG)
    return True
