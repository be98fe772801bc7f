"""catlas bench: the analytic FLOP count and the command itself (no timing assertions)."""

from __future__ import annotations

import pytest
import torch

from catlas.bench import run_bench, step_flops
from catlas.config import make_config
from catlas.errors import CatlasError
from catlas.train.threads import fit_threads


FULL = {"loss": {"metric_samples": None}}  # the Jacobian at every UV sample
# paper decoder FLOPs of one UV sample's Jacobian (2 tangent rows, layers after the first) x
# 4 frames x 10 patches, forward + backward
JAC_SAMPLE_FLOPS = 10 * 4 * (1026 * 513 + 513 * 256 + 256 * 3) * 2 * 3 * 2


def test_step_flops_paper_config_by_hand():
    cfg = make_config("paper", FULL)
    B, N, S, P, C = 4, 2500, 250, 10, 1024
    enc = B * N * (3 * 64 + 64 * 128 + 128 * C) + B * 2 * C * C
    dec_first = B * P * C * 1026 + P * S * 2 * 1026
    dec_rest = P * B * S * 3 * (1026 * 513 + 513 * 256 + 256 * 3)  # value + 2 tangent rows
    assert step_flops(cfg) == 3 * 2 * (enc + dec_first + dec_rest)
    an = make_config("paper", {"loss": {"method": "atlasnet"}})
    assert step_flops(an) < step_flops(cfg) / 2  # no tangent rows without a Jacobian


def test_bench_runs_and_prints_every_method():
    text = run_bench(("tiny",), ("mca", "atlasnet", "dsr"), repeats=1)
    assert "GFLOP/s" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("tiny")]
    assert [r.split()[1] for r in rows] == ["mca", "atlasnet", "dsr"]


def test_step_flops_with_metric_subset():
    full = make_config("paper", FULL)
    sub = make_config("paper", {"loss": {"metric_samples": 500}})  # 50 of 250 per patch
    an = make_config("paper", {"loss": {"method": "atlasnet"}})
    assert step_flops(full) - step_flops(sub) == JAC_SAMPLE_FLOPS * (250 - 50)
    assert step_flops(sub) - step_flops(an) == JAC_SAMPLE_FLOPS * 50


def test_step_flops_count_the_encoders_points_only():
    """data.encoder_points=k: the per-point encoder work scales with k, the rest is unchanged."""
    full = make_config("paper", FULL)
    few = make_config("paper", {**FULL, "data": {"encoder_points": 500}})
    per_point = 4 * (3 * 64 + 64 * 128 + 128 * 1024) * 2 * 3  # 4 frames, forward + backward
    assert step_flops(full) - step_flops(few) == per_point * (2500 - 500)


def test_paper_preset_takes_the_jacobian_at_500_samples():
    """50 of 250 samples per patch: mca costs the full-Jacobian count minus 200 sample rows."""
    paper, full = make_config("paper"), make_config("paper", FULL)
    assert paper.loss.metric_samples == 500
    assert step_flops(full) - step_flops(paper) == JAC_SAMPLE_FLOPS * (250 - 50)


def test_bench_variant_rows_and_atlasnet_ratio():
    wide = {"wide": {"model": {"decoder_widths": [512, 512]}}}
    text = run_bench(("tiny",), ("mca", "atlasnet"), repeats=1, rounds=2, variants=wide)
    rows = [ln.split() for ln in text.splitlines() if ln.startswith("tiny")]
    assert [(r[0], r[1]) for r in rows] == [("tiny", "mca"), ("tiny", "atlasnet"),
                                            ("tiny+wide", "mca"), ("tiny+wide", "atlasnet")]
    # the /atlnet column: atlasnet against itself is exactly 1; mca against its own row's atlasnet
    assert rows[1][7] == "1.00" and rows[3][7] == "1.00"
    mca, atl = float(rows[0][2]), float(rows[1][2])
    # step times are printed to 0.1 ms, the ratio to 0.01: the bound is what that rounding allows
    assert abs(float(rows[0][7]) - mca / atl) <= 0.005 + mca / atl * (0.00005 / mca + 0.00005 / atl) * 1.05
    # the wide variant's decoder has more FLOPs (column GFLOP): the variant was applied
    assert float(rows[2][4]) > float(rows[0][4]) + 0.5


def test_time_steps_interleaves_rounds(monkeypatch):
    """Warm-up runs configuration by configuration, then each round steps every configuration
    in turn: the order of the training steps proves the interleaving."""
    import catlas.bench as bench
    import catlas.train.steptime as steptime

    order = []
    real = steptime.training_step

    def recording(state, cfg, points, areas, lr):
        order.append(cfg.model.decoder_widths[0])
        return real(state, cfg, points, areas, lr)

    monkeypatch.setattr(steptime, "training_step", recording)
    cfgs = {w: make_config("tiny", {"model": {"decoder_widths": [w, 8]}}) for w in (8, 12)}
    out = bench.time_steps(cfgs, repeats=2, warmup=1, n_frames=3, rounds=2)
    assert order == [8, 12] + [8, 8, 12, 12] * 2
    assert set(out) == {8, 12}
    for timing in out.values():
        assert len(timing.round_medians_s) == 2
        assert min(timing.round_medians_s) <= timing.median_s <= max(timing.round_medians_s)
        assert timing.spread() >= 0


def test_bench_applies_train_threads_and_restores_them():
    before = torch.get_num_threads()
    n = before + 1  # differs from the current setting, so the header shows whether it was applied
    text = run_bench(("tiny",), ("atlasnet",), repeats=1, rounds=1, overrides={"train": {"threads": n}})
    assert f", {n} threads," in text.splitlines()[0]
    assert torch.get_num_threads() == before


def test_bench_refuses_mixed_thread_counts():
    with pytest.raises(CatlasError, match="train.threads"):
        run_bench(("tiny",), ("mca",), repeats=1, variants={"t2": {"train": {"threads": 2}}},
                  overrides={"train": {"threads": 1}})


def test_fit_threads_restores_the_count_when_the_body_fails():
    before = torch.get_num_threads()
    cfg = make_config("tiny", {"train": {"threads": before + 1}})
    with pytest.raises(RuntimeError, match="inside"):
        with fit_threads([cfg, cfg]) as n:
            assert n == before + 1 == torch.get_num_threads()
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with fit_threads([make_config("tiny", {"train": {"threads": 0}})]) as n:  # 0 keeps torch's count
        assert n == before


def test_step_flops_count_the_rigid_copies_of_ssc():
    """loss.alpha_ssc > 0 with S copies: S - 1 more encoder passes and decoder value rows per
    frame (no tangent rows for the copies, the uv rows shared); alpha_ssc 0 counts none."""
    base = make_config("paper", FULL)
    ssc = make_config("paper", {**FULL, "loss": {**FULL["loss"], "alpha_ssc": 0.1, "ssc_copies": 4}})
    off = make_config("paper", {**FULL, "loss": {**FULL["loss"], "ssc_copies": 4}})
    assert step_flops(off) == step_flops(base)
    B, N, S, P, C = 4, 2500, 250, 10, 1024
    enc = B * (N * (3 * 64 + 64 * 128 + 128 * C) + 2 * C * C)
    dec = B * P * C * 1026 + P * B * S * (1026 * 513 + 513 * 256 + 256 * 3)  # values only
    assert step_flops(ssc) - step_flops(base) == 3 * 2 * 3 * (enc + dec)
