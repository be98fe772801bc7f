"""Data-parallel fits under torchrun (2 CPU processes, gloo) match a single-process fit.

Tolerance: both runs draw the same global batch from the same generator; the only difference
is float32 summation order (per-rank means averaged over ranks vs. one full-batch mean, and
DDP's bucketed gradient all-reduce). Measured parameter differences after 6 Adam steps are a
few ULPs (<= 1.5e-8 absolute on weights of size ~0.2), so ``rtol=1e-5, atol=1e-6`` leaves
> 50x headroom while still catching any real difference (a wrong shard, a missing gradient
average or a different draw moves weights by ~lr = 1e-3). losses.csv holds 6 significant
digits, so logged losses are compared with ``rtol=1e-4`` (a last-digit flip is <= 2e-5);
metric consistency is ~1e-17 at this size, hence the ``atol``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from _signal_at import SCRIPT as SIGNAL_AT
from catlas.config import make_config
from catlas.errors import CatlasError
from catlas.train.checkpoint import load_checkpoint
from catlas.train.distributed import DataParallel, frame_shard, init_from_env

COMMON = ["--preset", "tiny", "--device", "cpu", "--quiet", "--iterations", "6",
          "--set", "train.threads=1", "--set", "train.pairs_per_step=2",
          "--set", "train.log_every=2", "--set", "train.checkpoint_every=2"]
_DIST_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DIST_VARS}
    return {**env, **extra}


def _single(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catlas", *args], capture_output=True, text=True,
                          env=_env(**env), timeout=120)


def _torchrun(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``catlas ARGS`` on 2 ranks; with CATLAS_TEST_SIGNAL_AT in ``env``, each rank runs
    tests/_signal_at.py (a signal after that step of the fit)."""
    entry = [SIGNAL_AT] if "CATLAS_TEST_SIGNAL_AT" in env else ["-m", "catlas"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           *entry, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(**env), timeout=120)


def _losses(run: Path) -> tuple[list[str], torch.Tensor]:
    with (run / "losses.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    keep = [i for i, c in enumerate(rows[0]) if c != "seconds"]  # wall clock differs
    return [rows[0][i] for i in keep], torch.tensor([[float(r[i]) for i in keep] for r in rows[1:]],
                                                    dtype=torch.float64)


def _assert_same_fit(ref: Path, run: Path) -> None:
    a, b = load_checkpoint(ref), load_checkpoint(run)
    assert a["iteration"] == b["iteration"] == 6
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-5, atol=1e-6, msg=k)
    cols_a, la = _losses(ref)
    cols_b, lb = _losses(run)
    assert cols_a == cols_b and la.shape == lb.shape == (3, len(cols_a))
    torch.testing.assert_close(lb, la, rtol=1e-4, atol=1e-6)
    fa = json.loads((ref / "summary.json").read_text())["final_losses"]
    fb = json.loads((run / "summary.json").read_text())["final_losses"]
    assert fa.keys() == fb.keys()
    for k in fa:
        assert fb[k] == pytest.approx(fa[k], rel=1e-5, abs=1e-6), k


@pytest.fixture(scope="module")
def reference(example_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    res = _single("fit", str(example_dir), "--out", str(out), *COMMON)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "summary.json").read_text())["processes"] == 1
    return out


def test_two_processes_match_one(example_dir, reference, tmp_path):
    out = tmp_path / "ddp"
    res = _torchrun("fit", str(example_dir), "--out", str(out), *COMMON)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("wrote ") == 1  # messages from rank 0 only
    assert json.loads((out / "summary.json").read_text())["processes"] == 2
    assert len(list((out / "meshes").glob("frame_*.obj"))) == 6
    _assert_same_fit(reference, out)


def test_two_processes_match_one_with_the_cross_pair_term(example_dir, tmp_path):
    """A fit with loss.alpha_mc_cross on runs under torchrun (DDP's gradient all-reduce and the
    term's gather in one backward) and ends where one process does. At this size the term is
    ~1e-17, so its gradient is checked by the next test, not here."""
    cross = ["--set", "loss.alpha_mc_cross=0.5", "--set", "loss.cross_from=0"]
    one, two = tmp_path / "one", tmp_path / "two"
    res = _single("fit", str(example_dir), "--out", str(one), *COMMON, *cross)
    assert res.returncode == 0, res.stderr
    res = _torchrun("fit", str(example_dir), "--out", str(two), *COMMON, *cross)
    assert res.returncode == 0, res.stderr
    cols, losses = _losses(one)
    assert "metric_cross" in cols and float(losses[:, cols.index("metric_cross")].min()) > 0
    _assert_same_fit(one, two)


_GATHER_SCRIPT = """
import sys, torch
from catlas.losses.metric_consistency import cross_pair_metric_consistency
from catlas.train.distributed import frame_shard, init_from_env
par = init_from_env()
fff = torch.load(sys.argv[1])
local = fff[frame_shard(2, par.rank, par.world_size)].clone().requires_grad_()
value = cross_pair_metric_consistency(par.gather(local))
value.backward()
torch.save({"value": value.detach(), "grad": local.grad}, sys.argv[2] + f"/{par.rank}.pt")
"""


def test_gathered_cross_pair_term_has_the_single_process_value_and_gradient(tmp_path):
    """Two processes, one pair each: the term on the gathered metric tensors (4, P, S, 3) equals
    the single-process one on every rank, and each rank's gradient, averaged over ranks as DDP
    does, is the single-process gradient of its frames."""
    fff = torch.rand(4, 2, 3, 3, dtype=torch.float64) + 0.5
    torch.save(fff, tmp_path / "fff.pt")
    (tmp_path / "gather.py").write_text(_GATHER_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(tmp_path / "gather.py"), str(tmp_path / "fff.pt"), str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert res.returncode == 0, res.stderr
    from catlas.losses.metric_consistency import cross_pair_metric_consistency

    whole = fff.clone().requires_grad_()
    expected = cross_pair_metric_consistency(whole)
    expected.backward()
    assert float(expected.detach()) > 0.01
    for rank in (0, 1):
        got = torch.load(tmp_path / f"{rank}.pt")
        torch.testing.assert_close(got["value"], expected.detach())
        torch.testing.assert_close(got["grad"] / 2, whole.grad[frame_shard(2, rank, 2)])


def test_kill_and_resume_under_torchrun(example_dir, reference, tmp_path):
    """Both ranks die after step 5 (checkpoint at 4); resuming under torchrun ends where the
    uninterrupted single-process fit does: all ranks load the same checkpoint and generator."""
    out = tmp_path / "k"
    killed = _torchrun("fit", str(example_dir), "--out", str(out), *COMMON, CATLAS_TEST_SIGNAL_AT="KILL:5")
    assert killed.returncode != 0
    assert json.loads((out / "checkpoint.json").read_text())["iteration"] == 4
    resumed = _torchrun("fit", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_fit(reference, out)


def test_config_checks():
    cfg = make_config("tiny", {"train": {"pairs_per_step": 3}})
    with pytest.raises(CatlasError, match="divisible"):
        DataParallel(0, 2, 0).check_config(cfg)
    DataParallel(0, 3, 0).check_config(cfg)
    with pytest.raises(CatlasError, match="dsr"):
        DataParallel(1, 2, 1).check_config(make_config("tiny", {"loss": {"method": "dsr"}}))
    DataParallel(0, 2, 0).check_config(make_config("fast"))  # its cross-pair term is gathered


def test_single_process_is_not_distributed(monkeypatch):
    for k in _DIST_VARS:
        monkeypatch.delenv(k, raising=False)
    assert init_from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_from_env() is None


def test_frame_shards_split_whole_pairs():
    assert [frame_shard(4, r, 2) for r in (0, 1)] == [slice(0, 4), slice(4, 8)]
    assert [frame_shard(6, r, 3) for r in (0, 1, 2)] == [slice(0, 4), slice(4, 8), slice(8, 12)]


def test_training_step_decodes_only_its_shard(example_dir):
    """With a shard, a step draws the full global batch (the generator advances as in a single
    process) but its loss covers only this rank's pairs."""
    import numpy as np

    from catlas.data import load_sequence
    from catlas.geometry.uv import random_uv
    from catlas.train.loop import new_state, training_step
    from catlas.train.objectives import step_loss
    from catlas.train.pairs import sample_pairs, sample_points

    cfg = make_config("tiny", {"device": "cpu", "train": {"pairs_per_step": 2, "curriculum": False}})
    seq = load_sequence(example_dir, cfg.data, np.random.default_rng(0))
    points = torch.as_tensor(seq.points, dtype=torch.float32)
    full, part = new_state(cfg, torch.device("cpu")), new_state(cfg, torch.device("cpu"))
    shard = frame_shard(2, 1, 2)
    part.parallel = SimpleNamespace(shard=shard, ddp=part.model, gather=None)
    g = torch.Generator().manual_seed(cfg.train.seed)  # replay the draws by hand
    frames = sample_pairs(points.shape[0], 2, cfg.loss.tau, g)
    clouds = sample_points(points, frames, cfg.data.points_per_step, g)
    uv = random_uv(cfg.model.n_patches, cfg.train.uv_samples // cfg.model.n_patches, g)
    with torch.no_grad():
        xyz, jac = full.model(clouds[shard], uv, jacobian=True)
    _, expected = step_loss(xyz, jac, clouds[shard], cfg.loss)
    got = training_step(part, cfg, points, None, cfg.train.lr)
    whole = training_step(full, cfg, points, None, cfg.train.lr)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0, msg=k)
    assert not torch.equal(got["chamfer"], whole["chamfer"])
    assert torch.equal(part.generator.get_state(), full.generator.get_state())
