"""``catlas bench``: the machine's matmul rate and the training step's speed, FLOPs and memory.

The FLOP count is analytic (matrix products only, which dominate): forward matmuls of the
encoder and of the decoder (value rows, plus two tangent rows per sample when the Jacobian is
needed), and the backward pass counted as twice the forward (gradients w.r.t. inputs and
weights). The floor is that count divided by the measured float32 matmul rate.

Step times on a shared 2-core machine move by 10-30 % from one minute to the next, so the
configurations of one report are timed interleaved (:func:`catlas.train.steptime.time_steps`):
their ratios, which decide equal-time budgets, are what this measures best.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from catlas.config import FitConfig, make_config, merge_dicts
from catlas.errors import CatlasError
from catlas.train import steptime
from catlas.train.objectives import ActiveTerms, jacobian_samples
from catlas.train.threads import fit_threads


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Median float32 GFLOP/s of an n x n x n matmul on this machine (current thread setting)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b  # warm-up
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def step_flops(cfg: FitConfig, n_frames: int = 2) -> float:
    """Analytic FLOPs of one training step (forward + backward matmuls) for cfg's method; with
    loss.alpha_ssc > 0 every frame is also encoded and decoded (values only) in its
    ssc_copies - 1 rigid copies."""
    m, t = cfg.model, cfg.train
    B = 2 * t.pairs_per_step
    copies = cfg.loss.ssc_copies if cfg.loss.alpha_ssc > 0 else 1
    S = max(1, t.uv_samples // m.n_patches)
    C, P = m.code_dim, m.n_patches
    enc_dims = (3, *m.encoder_widths, C)
    per_point = sum(a * b for a, b in zip(enc_dims[:-1], enc_dims[1:]))
    enc = B * copies * (cfg.data.encoded_points() * per_point + 2 * C * C)
    widths = (*m.resolved_decoder_widths(), 3)
    k = jacobian_samples(cfg.loss, S, P, ActiveTerms(pairs=n_frames > 1))  # tangent samples per patch (2 rows each)
    first = B * copies * P * C * widths[0] + P * S * 2 * widths[0]  # the uv rows are shared
    rest = P * B * (copies * S + 2 * k) * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    forward = 2 * (enc + first + rest)
    return 3.0 * forward


@dataclass
class StepTiming:
    method: str
    preset: str
    median_s: float
    flops: float
    peak_rss_mib: float
    round_medians_s: list[float] = field(default_factory=list)
    """The median of each round's steps (interleaved timing); their range is the spread."""

    def spread(self) -> float:
        """(max - min) / median of the round medians: how much the step time moved between rounds."""
        if len(self.round_medians_s) < 2:
            return 0.0
        return (max(self.round_medians_s) - min(self.round_medians_s)) / self.median_s

    def row(self, gflops: float, reference: "StepTiming | None" = None) -> str:
        """One line of the report; reference (atlasnet of the same configuration) gives the ratio."""
        achieved = self.flops / self.median_s / 1e9
        floor = self.flops / (gflops * 1e9)
        ratio = f"{self.median_s / reference.median_s:7.2f}" if reference is not None else f"{'-':>7}"
        return (f"{self.preset:<14} {self.method:<9} {self.median_s:8.4f} {1 / self.median_s:7.2f} "
                f"{self.flops / 1e9:8.1f} {achieved:8.1f} {self.median_s / floor:6.2f} {ratio} "
                f"{100 * self.spread():7.1f} {self.peak_rss_mib:9.0f}")


def time_steps(cfgs: dict[str, FitConfig], repeats: int = 5, warmup: int = 2, n_frames: int = 8,
               rounds: int = 3) -> dict[str, StepTiming]:
    """:func:`catlas.train.steptime.time_steps` (the configurations' steps timed interleaved)
    with each configuration's analytic FLOPs: name -> timing."""
    times = steptime.time_steps(cfgs, repeats=repeats, warmup=warmup, n_frames=n_frames, rounds=rounds)
    return {name: StepTiming(cfgs[name].loss.method, "", t.median_s, step_flops(cfgs[name], n_frames),
                             t.peak_rss_mib, t.round_medians_s) for name, t in times.items()}


def run_bench(presets: tuple[str, ...] = ("paper",), methods: tuple[str, ...] = ("mca", "atlasnet", "dsr"),
              repeats: int = 5, device: str = "cpu", overrides: dict | None = None,
              variants: dict[str, dict] | None = None, rounds: int = 3, n_frames: int = 8) -> str:
    """Measure everything and return the printed report.

    Every (preset, variant, method) configuration is timed interleaved with the others
    (:func:`time_steps`). variants: name -> extra overrides, each measured beside the plain
    preset (row label ``preset+name``), e.g. ``{"narrow": {"model": {"decoder_widths": [256, 128, 64]}}}``.
    """
    for option, value, lo, hi in (("--repeats", repeats, 1, 10_000), ("--rounds", rounds, 1, 1_000),
                                  ("--frames", n_frames, 2, 1_000)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise CatlasError(f"{option} must be an integer in [{lo}, {hi}], got {value!r}")
    cfgs: dict[tuple[str, str], FitConfig] = {}
    for preset in presets:
        for vname, vover in {"": {}, **(variants or {})}.items():
            label = f"{preset}+{vname}" if vname else preset
            for method in methods:
                extra = merge_dicts(merge_dicts(overrides or {}, vover), {"loss": {"method": method}, "device": device})
                cfgs[(label, method)] = make_config(preset, extra)
    with fit_threads(cfgs.values()):  # for the matmul rate and the steps alike
        return _measure(cfgs, repeats, rounds, n_frames, device, overrides)


def _measure(cfgs: dict[tuple[str, str], FitConfig], repeats: int, rounds: int, n_frames: int,
             device: str, overrides: dict | None) -> str:
    """The report of :func:`run_bench` for configurations keyed (row label, method)."""
    gflops = matmul_gflops()
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
             f"{n_frames} frames of random clouds" + (f", overrides {overrides}" if overrides else ""),
             f"float32 matmul (2048^3): {gflops:.0f} GFLOP/s (median of 10)",
             "preset         method    step[s]  steps/s   GFLOP   GFLOP/s  /floor /atlnet spread%  peakRSS[MiB]"]
    timings = time_steps({f"{label}/{method}": c for (label, method), c in cfgs.items()},
                         repeats=repeats, rounds=rounds, n_frames=n_frames)
    for label, method in cfgs:
        timing = timings[f"{label}/{method}"]
        timing.preset = label
        lines.append(timing.row(gflops, timings.get(f"{label}/atlasnet")))
    lines.append(f"step = median of {rounds} rounds x {repeats} steps, every configuration timed in turn in "
                 "each round; GFLOP = analytic matmul count (fwd + bwd); /floor = step time over GFLOP / "
                 "matmul rate; /atlnet = step time over atlasnet's of the same row label; spread% = range "
                 "of the round medians over the median; peak RSS is the process maximum after that "
                 "configuration's warm-up.")
    return "\n".join(lines)
