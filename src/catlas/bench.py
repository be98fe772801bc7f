"""``catlas bench``: the machine's matmul rate and the training step's speed, FLOPs and memory.

The FLOP count is analytic (matrix products only, which dominate): forward matmuls of the
encoder and of the decoder (value rows, plus two tangent rows per sample when the Jacobian is
needed), and the backward pass counted as twice the forward (gradients w.r.t. inputs and
weights). The floor is that count divided by the measured float32 matmul rate.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass

import torch

from catlas.config import FitConfig, make_config, merge_dicts
from catlas.run import resolve_device
from catlas.train.loop import new_state, training_step
from catlas.train.objectives import jacobian_samples


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
    """Analytic FLOPs of one training step (forward + backward matmuls) for cfg's method."""
    m, t = cfg.model, cfg.train
    B = 2 * t.pairs_per_step
    N = cfg.data.points_per_step
    S = max(1, t.uv_samples // m.n_patches)
    C, P = m.code_dim, m.n_patches
    enc_dims = (3, *m.encoder_widths, C)
    enc = B * N * sum(a * b for a, b in zip(enc_dims[:-1], enc_dims[1:])) + B * 2 * C * C
    if m.latent == "per_frame":
        enc = 0
    widths = (*m.resolved_decoder_widths(), 3)
    k = jacobian_samples(cfg.loss, S, P, n_frames > 1)  # tangent samples per patch (2 rows each)
    first = B * P * C * widths[0] + P * S * 2 * widths[0]
    rest = P * B * (S + 2 * k) * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    forward = 2 * (enc + first + rest)
    return 3.0 * forward


@dataclass
class StepTiming:
    method: str
    preset: str
    median_s: float
    flops: float
    peak_rss_mib: float

    def row(self, gflops: float) -> str:
        achieved = self.flops / self.median_s / 1e9
        floor = self.flops / (gflops * 1e9)
        return (f"{self.preset:<6} {self.method:<9} {self.median_s:8.3f} {1 / self.median_s:7.2f} "
                f"{self.flops / 1e9:8.1f} {achieved:8.1f} {self.median_s / floor:6.2f} {self.peak_rss_mib:9.0f}")


def time_step(cfg: FitConfig, repeats: int = 5, warmup: int = 2, n_frames: int = 8) -> StepTiming:
    """Median wall time of the training step on random clouds (same shapes as a real fit)."""
    device = resolve_device(cfg.device)
    state = new_state(cfg, device, n_frames)
    g = torch.Generator().manual_seed(0)
    points = torch.rand(n_frames, cfg.data.points_per_frame, 3, generator=g).to(device)
    areas = torch.full((n_frames,), 0.8, device=device)
    times = []
    for k in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        terms = training_step(state, cfg, points, areas, cfg.train.lr)
        float(terms["loss"])  # wait for the step to finish
        if k >= warmup:
            times.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return StepTiming(cfg.loss.method, "", statistics.median(times), step_flops(cfg, n_frames), rss)


def run_bench(presets: tuple[str, ...] = ("paper",), methods: tuple[str, ...] = ("ours", "atlasnet", "dsr"),
              repeats: int = 5, device: str = "cpu", overrides: dict | None = None) -> str:
    """Measure everything and return the printed report."""
    gflops = matmul_gflops()
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
             + (f", overrides {overrides}" if overrides else ""),
             f"float32 matmul (2048^3): {gflops:.0f} GFLOP/s (median of 10)",
             "preset method    step[s]  steps/s   GFLOP   GFLOP/s  /floor  peakRSS[MiB]"]
    for preset in presets:
        for method in methods:
            extra = merge_dicts(overrides or {}, {"loss": {"method": method}, "device": device})
            cfg = make_config(preset, extra)
            timing = time_step(cfg, repeats=repeats)
            timing.preset = preset
            lines.append(timing.row(gflops))
    lines.append("step = median of the repeats; GFLOP = analytic matmul count (fwd + bwd); "
                 "/floor = step time over GFLOP / matmul rate; peak RSS is the process maximum so far.")
    return "\n".join(lines)
