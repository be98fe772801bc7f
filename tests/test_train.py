"""Training: pair sampling, schedule, per-method objectives, fit/resume/checkpoint behaviour."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import catlas
from _signal_at import SCRIPT as SIGNAL_AT
from catlas.config import FitConfig, LossConfig, TrainConfig, make_config
from catlas.errors import CatlasError
from catlas.train.checkpoint import load_checkpoint
from catlas.train.loop import learning_rate
from catlas.train.objectives import ActiveTerms, needs_jacobian, step_loss
from catlas.train.pairs import sample_pairs, sample_points


def _loss(**settings) -> LossConfig:
    """A LossConfig without the fast preset's cross-pair term and Jacobian subset (the paper's
    loss), with ``settings`` on top."""
    return LossConfig(**{"alpha_mc_cross": 0.0, "cross_from": 0.0, "metric_samples": None, **settings})


def test_pairs_are_within_tau_and_distinct():
    g = torch.Generator().manual_seed(0)
    for tau in (1, 3):
        f = sample_pairs(7, 5000, tau, g).view(-1, 2)
        d = (f[:, 0] - f[:, 1]).abs()
        assert (d >= 1).all() and (d <= tau).all()
        assert f.min() == 0 and f.max() == 6
        # every admissible partner of an interior frame is drawn about equally often
        if tau == 3:
            js = f[f[:, 0] == 3, 1]
            counts = torch.bincount(js, minlength=7).float()
            assert counts[3] == 0 and counts[[0, 1, 2, 4, 5, 6]].min() > 0.6 * counts.max()


def test_single_frame_pairs_itself():
    f = sample_pairs(1, 3, 1, torch.Generator().manual_seed(0))
    assert f.tolist() == [0] * 6


def test_sample_points_without_replacement():
    stored = torch.arange(2 * 50 * 3, dtype=torch.float32).view(2, 50, 3)
    out = sample_points(stored, torch.tensor([1, 0, 1]), 50, torch.Generator().manual_seed(0))
    assert out.shape == (3, 50, 3)
    assert sorted(out[0, :, 0].tolist()) == stored[1, :, 0].tolist()  # a permutation of frame 1


def test_learning_rate_schedule():
    tc = TrainConfig(iterations=100, lr=1e-3, lr_warmup=0.0, lr_decay_at=(0.8, 0.9))
    assert learning_rate(tc, 0) == 1e-3 and learning_rate(tc, 79) == 1e-3
    assert learning_rate(tc, 80) == pytest.approx(1e-4) and learning_rate(tc, 90) == pytest.approx(1e-5)
    tc = TrainConfig(iterations=1000, lr=3e-3, lr_warmup=0.02, lr_decay_at=(0.9, 0.95))
    rates = [learning_rate(tc, i) for i in range(1000)]
    assert rates[0] == pytest.approx(3e-3 / 20) and rates[9] == pytest.approx(3e-3 / 2)
    assert rates[19] == pytest.approx(3e-3) and rates[20] == pytest.approx(3e-3)  # full rate from step 20
    assert all(a < b for a, b in zip(rates[:19], rates[1:20]))  # a linear rise
    assert rates[899] == pytest.approx(3e-3) and rates[900] == pytest.approx(3e-4)
    for bad in (-0.1, 1.5, "early"):
        with pytest.raises(CatlasError, match="lr_warmup"):
            make_config("fast", {"train": {"lr_warmup": bad}})


def test_fast_and_demo_drop_the_learning_rate_after_the_growth():
    for method in ("mca", "atlasnet", "dsr"):  # one schedule for every method
        for preset in ("fast", "demo"):
            cfg = make_config(preset, {"loss": {"method": method}})
            assert cfg.train.lr_decay_at == (0.9, 0.95)
            assert min(cfg.train.lr_decay_at) > cfg.train.grow_to  # full rate with every frame in
        assert make_config("paper", {"loss": {"method": method}}).train.lr_decay_at == (0.8, 0.9)
    tc = make_config("fast", {"train": {"iterations": 1000}}).train
    assert learning_rate(tc, 899) == pytest.approx(3e-3) and learning_rate(tc, 900) == pytest.approx(3e-4)
    assert learning_rate(tc, 950) == pytest.approx(3e-5)
    assert make_config("paper").train.lr_warmup == 0.0 and make_config("demo").train.lr_warmup == 0.02
    for bad in ([80, 90], ["late"]):
        with pytest.raises(CatlasError, match="lr_decay_at"):
            make_config("fast", {"train": {"lr_decay_at": bad}})


def test_objectives_select_terms_by_method():
    B, P, S = 4, 2, 5
    xyz = torch.rand(B, P, S, 3)
    jac = torch.rand(B, P, S, 3, 2)
    clouds = torch.rand(B, 20, 3)
    area = torch.ones(B)
    keys = {m: set(step_loss(xyz, jac, clouds, _loss(method=m), area)[1]) for m in ("mca", "atlasnet", "dsr")}
    assert keys["atlasnet"] == {"chamfer", "loss"}
    assert keys["mca"] == {"chamfer", "metric_consistency", "motion", "loss"}  # motion: mca' default
    assert keys["dsr"] >= {"chamfer", "dsr_E", "dsr_G", "dsr_skew", "dsr_total_area", "loss"}
    loss, t = step_loss(xyz, jac, clouds, _loss(method="mca", alpha_mc=0.5))
    expected = t["chamfer"] + 0.5 * t["metric_consistency"] + 0.1 * t["motion"]
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    loss, t = step_loss(xyz, jac, clouds, _loss(method="mca", alpha_mc=0.5, alpha_motion=0.0))
    assert "motion" not in t  # the paper's mca
    assert float(loss) == pytest.approx(float(t["chamfer"] + 0.5 * t["metric_consistency"]), rel=1e-6)
    assert not needs_jacobian(_loss(method="atlasnet"))
    assert not needs_jacobian(_loss(method="mca"), ActiveTerms(pairs=False))  # one frame: no pairs
    assert not needs_jacobian(_loss(method="mca", alpha_mc=0.0))  # term switched off
    loss, t = step_loss(xyz, None, clouds, _loss(method="mca", alpha_mc=0.0))
    assert float(t["metric_consistency"]) == 0  # logged, not computed
    assert float(loss) == pytest.approx(float(t["chamfer"] + 0.1 * t["motion"]), rel=1e-6)
    assert needs_jacobian(_loss(method="dsr"))
    assert not needs_jacobian(_loss(method="dsr", alpha_dsr=0.0))  # dsr's terms off
    loss, t = step_loss(xyz, None, clouds, _loss(method="dsr", alpha_dsr=0.0), area)
    assert set(t) == {"chamfer", "loss"} and float(loss) == pytest.approx(float(t["chamfer"]), rel=1e-6)


def _terms_at_steps(cfg: FitConfig, n_frames: int, steps: tuple[int, ...]) -> dict[int, dict]:
    """The logged terms of training_step at each of ``steps`` of one fresh fit on random clouds."""
    from catlas.train import loop

    state = loop.new_state(cfg, torch.device("cpu"))
    points = torch.rand(n_frames, 400, 3)
    seen = {}
    for it in steps:
        state.iteration = it
        seen[it] = loop.training_step(state, cfg, points, None, 1e-3)
    return seen


def test_active_terms_follow_the_run_schedule():
    """cross_from 0.75 of 100 steps: the cross flag switches at its step; pairs are on at every
    step with more than one frame, a single frame has no pairs at any step."""
    cfg = _loss(method="mca", cross_from=0.75)
    at = {it: ActiveTerms.at(cfg, 5, it, 100) for it in (0, 19, 20, 49, 50, 74, 75, 99)}
    assert all(at[it].pairs for it in at)
    assert [at[it].cross for it in at] == [False, False, False, False, False, False, True, True]
    assert not ActiveTerms.at(cfg, 1, 99, 100).pairs


def test_cross_pair_term_starts_at_cross_from():
    """loss.cross_from=0.5: the cross-pair metric term is logged as 0 (and not in the loss)
    during the first half of the run, and on after it; the neighbour-pair term is on throughout."""
    with pytest.raises(ValueError, match="cross_from"):
        _loss(method="mca", cross_from=-0.1)
    cfg = make_config("tiny", {"device": "cpu", "loss": {"alpha_mc_cross": 0.1, "cross_from": 0.5},
                               "train": {"iterations": 10, "pairs_per_step": 2}})
    seen = _terms_at_steps(cfg, n_frames=6, steps=(0, 4, 5, 9))
    assert all(seen[it]["metric_cross"] == 0 and seen[it]["metric_consistency"] > 0 for it in (0, 4))
    assert all(seen[it]["metric_cross"] > 0 for it in (5, 9))
    no_mc = replace(cfg.loss, alpha_mc=0.0)
    assert not needs_jacobian(no_mc, ActiveTerms(cross=False)) and needs_jacobian(no_mc)


def test_cross_pair_metric_term_of_mca_ties_frames_of_different_pairs():
    B, P, S = 4, 2, 5
    xyz, clouds = torch.rand(B, P, S, 3), torch.rand(B, 20, 3)
    # frames 0, 1 (a pair) isometric; frames 2, 3 stretched x2 in u: E = 4, so each of the
    # 4 cross comparisons costs (4 - 1)^2 = 9 while both pairs agree inside
    iso = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    jac = torch.cat([iso.expand(2, P, S, 3, 2), (iso * torch.tensor([2.0, 1.0])).expand(2, P, S, 3, 2)])
    cfg = _loss(method="mca", alpha_mc_cross=0.05, alpha_motion=0.0)
    loss, t = step_loss(xyz, jac, clouds, cfg)
    assert float(t["metric_consistency"]) == 0 and float(t["metric_cross"]) == pytest.approx(9.0)
    assert float(loss) == pytest.approx(float(t["chamfer"]) + 0.05 * 9.0, rel=1e-6)
    # the Jacobian is needed for the cross term alone; without pairs the term is off and logged 0
    assert needs_jacobian(_loss(method="mca", alpha_mc=0.0, alpha_mc_cross=0.05))
    loss, t = step_loss(xyz, None, clouds, replace(cfg, alpha_mc=0.0), active=ActiveTerms(pairs=False))
    assert float(t["metric_cross"]) == 0 and float(loss) == pytest.approx(float(t["chamfer"]), rel=1e-6)
    assert "metric_cross" not in step_loss(xyz, jac, clouds, _loss(method="mca"))[1]  # off: no column
    with pytest.raises(ValueError, match="alpha_mc_cross"):
        _loss(alpha_mc_cross=-0.1)


def test_surface_motion_term_pairs_frames_in_layout_order():
    # frames laid out [i1, j1, i2, j2]: pair 1 moves by 0.1 in x, pair 2 by 0.3 in y
    B, P, S = 4, 2, 5
    xyz = torch.rand(B, P, S, 3)
    xyz[1] = xyz[0] + torch.tensor([0.1, 0.0, 0.0])
    xyz[3] = xyz[2] + torch.tensor([0.0, 0.3, 0.0])
    clouds = torch.rand(B, 20, 3)
    for method in ("mca", "atlasnet"):
        cfg = _loss(method=method, alpha_motion=2.0)
        jac = torch.rand(B, P, S, 3, 2) if method == "mca" else None
        loss, t = step_loss(xyz, jac, clouds, cfg)
        assert float(t["motion"]) == pytest.approx((0.01 + 0.09) / 2, rel=1e-5)
        extra = t.get("metric_consistency", torch.zeros(())) * cfg.alpha_mc
        assert float(loss) == pytest.approx(float(t["chamfer"] + extra + 2.0 * t["motion"]), rel=1e-6)
    # off by default for the baselines, 0.1 for mca; zero (not a pair term) when there are no pairs
    assert "motion" not in step_loss(xyz, None, clouds, _loss(method="atlasnet"))[1]
    assert [_loss(method=m).motion_weight() for m in ("mca", "atlasnet", "dsr")] == [0.1, 0.0, 0.0]
    _, t = step_loss(xyz, None, clouds, _loss(method="atlasnet", alpha_motion=1.0), active=ActiveTerms(pairs=False))
    assert float(t["motion"]) == 0.0
    with pytest.raises(ValueError, match="alpha_motion"):
        _loss(alpha_motion=-1.0)


def test_config_with_a_removed_setting_loads_when_off_and_is_refused_otherwise():
    d = FitConfig().to_dict()
    d["loss"]["alpha_accel"] = 0.0
    d["loss"]["mc_pairs"] = "drawn"
    d["train"]["grow_copy_code"] = False
    d["train"]["grow_sampling"] = "balanced"
    d["loss"]["cross_early_gap"] = 0
    d["loss"].update(mc_from=0.0, motion_component="full", motion_tangent=0.0, alpha_iso=0.0, iso_until=1.0)
    d["model"]["latent"] = "encoder"
    d["loss"].update(dsr_e=1.0, dsr_g=1.0, dsr_skew=1.0, dsr_stretch=0.0, dsr_total_area=100.0,
                     dsr_total_area_mult=1.0)
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == FitConfig().resolved()  # the same fit without them
    d["loss"]["alpha_accel"] = 0.3
    with pytest.raises(CatlasError, match=r"^run.yaml: loss.alpha_accel=0.3: this setting was removed in "
                                          r"config version 2; delete it \(catlas now always behaves as with 0\)$"):
        FitConfig.from_yaml(yaml.safe_dump(d), source="run.yaml")
    d["loss"]["alpha_accel"], d["train"]["grow_copy_code"] = 0.0, True
    with pytest.raises(CatlasError, match=r"train.grow_copy_code=True: this setting was removed"):
        FitConfig.from_yaml(yaml.safe_dump(d))
    d["train"]["grow_copy_code"] = False
    for key, value in (("alpha_iso", 0.1), ("mc_from", 0.15), ("dsr_total_area", 50.0)):
        with pytest.raises(CatlasError, match=rf"loss.{key}={value}: this setting was removed"):
            FitConfig.from_yaml(yaml.safe_dump({**d, "loss": {**d["loss"], key: value, "method": "dsr"}}))
    # settings that changed nothing in that fit go silently: iso_until with alpha_iso 0, the
    # DSR weights of a method other than dsr
    d["loss"].update(iso_until=0.5, dsr_total_area=50.0)
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == FitConfig().resolved()
    with pytest.raises(CatlasError, match="unknown setting"):  # not a removed one in a current file
        FitConfig.from_yaml(yaml.safe_dump({"version": 2, **d}))
    with pytest.raises(CatlasError, match="unknown setting"):  # anything else is still unknown
        FitConfig.from_yaml(yaml.safe_dump({**FitConfig().to_dict(), "colour": 1}))


def test_config_yaml_carries_its_version_and_older_files_are_migrated():
    """config.yaml starts with version: 3; a file without one is version 1 (older catlas): its
    missing settings take that version's values, not today's defaults; newer versions are refused."""
    from catlas.config import CONFIG_VERSION

    text = make_config("fast").to_yaml()
    assert text.startswith(f"version: {CONFIG_VERSION}\n") and CONFIG_VERSION == 3
    assert FitConfig.from_yaml(text) == make_config("fast")
    v2 = yaml.safe_load(text)  # version 2 had no warm-up: its fits ran at the full rate from step 0
    del v2["train"]["lr_warmup"]
    assert FitConfig.from_yaml(yaml.safe_dump({**v2, "version": 2})).train.lr_warmup == 0.0
    d = yaml.safe_load(text)
    del d["version"], d["train"]["grow_partners"]
    assert FitConfig.from_yaml(yaml.safe_dump(d)).train.grow_partners == "sequence"  # version 1's
    for bad, needle in ((4, "version 4 was written by a newer catlas"), ("two", "positive integer"),
                        (0, "positive integer")):
        with pytest.raises(CatlasError, match=rf"^run.yaml: .*{needle}"):
            FitConfig.from_yaml(yaml.safe_dump({**d, "version": bad}), source="run.yaml")


def test_config_written_before_the_motion_term_loads_without_it():
    """A run saved before loss.alpha_motion existed was fitted without the term: resuming or
    comparing it must not switch the new mca default (0.1) on."""
    d = FitConfig().to_dict()
    del d["loss"]["alpha_motion"]
    old = FitConfig.from_yaml(yaml.safe_dump(d))
    assert old.loss.alpha_motion == 0.0 and old.loss.motion_weight() == 0.0
    new = FitConfig.from_yaml(FitConfig().to_yaml())  # written resolved: the method default
    assert new.loss.alpha_motion == 0.1 and new.loss.motion_weight() == 0.1
    d = FitConfig().to_dict()
    d["loss"]["alpha_motion"] = None  # a config.yaml with null: the method default, resolved
    d["train"]["curriculum"] = None
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == new and new.train.curriculum is True


def test_center_frames_is_saved_and_older_configs_load_without_it():
    """data.center_frames (default off) is written to config.yaml and read back; a config.yaml
    written before the setting existed (any version) loads with it off, as those fits ran."""
    cfg = make_config("tiny", {"data": {"center_frames": True}})
    text = cfg.to_yaml()
    assert "center_frames: true" in text
    assert FitConfig.from_yaml(text).data.center_frames is True
    assert make_config("fast").data.center_frames is False
    d = yaml.safe_load(make_config("fast").to_yaml())
    del d["data"]["center_frames"]
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == make_config("fast")
    del d["version"]  # version 1
    assert FitConfig.from_yaml(yaml.safe_dump(d)).data.center_frames is False
    with pytest.raises(CatlasError, match="center_frames: expected true or false"):
        make_config("fast", {"data": {"center_frames": "yes"}})


def test_fast_preset_pairs_inside_the_window_and_older_runs_keep_the_papers_pairing():
    """The fast and demo presets pair frames inside the curriculum's window; a fast run saved
    before train.grow_partners existed was fitted with the paper's pairing and must load so."""
    assert make_config("fast").train.grow_partners == "window"
    assert make_config("fast").data.encoded_points() == 250  # of 1000 drawn; the paper: all
    assert make_config("paper").data.encoded_points() == make_config("paper").data.points_per_step
    assert make_config("demo").train.grow_partners == "window"
    assert make_config("paper").train.grow_partners == "sequence"
    d = make_config("fast").to_dict()
    del d["train"]["grow_partners"]
    assert FitConfig.from_yaml(yaml.safe_dump(d)).train.grow_partners == "sequence"


def test_fast_preset_ties_pairs_after_the_growth_and_older_runs_load_without_it():
    """fast and demo switch the cross-pair metric term on when the curriculum's growth ends;
    the paper preset and a run folder saved before the setting existed have it off."""
    for preset in ("fast", "demo"):
        cfg = make_config(preset)
        assert cfg.loss.alpha_mc_cross > 0 and cfg.loss.cross_from == cfg.train.grow_to
    assert make_config("paper").loss.alpha_mc_cross == 0
    d = make_config("fast").to_dict()
    del d["loss"]["alpha_mc_cross"], d["loss"]["cross_from"]
    old = FitConfig.from_yaml(yaml.safe_dump(d)).loss
    assert old.alpha_mc_cross == 0 and old.cross_from == 0


def _tiny(**train) -> dict:
    return {"train": {"iterations": 20, **train}}


def test_fit_writes_all_outputs(example_dir, tmp_path):
    out = tmp_path / "run"
    run = catlas.fit(example_dir, out, preset="tiny", overrides={"device": "cpu"}, progress=False)
    for name in ("config.yaml", "sequence.npz", "checkpoint.json", "losses.csv", "summary.json"):
        assert (out / name).exists(), name
    assert list((out / "tb").iterdir())
    meshes = sorted((out / "meshes").glob("frame_*.obj"))
    assert len(meshes) == 6
    import trimesh

    first = trimesh.load(meshes[0], process=False)
    last = trimesh.load(meshes[-1], process=False)
    assert np.array_equal(first.faces, last.faces) and len(first.vertices) == len(last.vertices)
    # outputs are in the input's units: the example is about 1 unit long, centred elsewhere
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 20 and summary["method"] == "mca"
    assert summary["seconds_per_iteration"] > 0
    assert catlas.FitConfig.load(out / "config.yaml") == run.config
    assert run.config.loss.method == "mca"


def test_existing_run_dir_is_protected(example_dir, tmp_path):
    out = tmp_path / "run"
    catlas.fit(example_dir, out, preset="tiny", overrides=_tiny(iterations=2), progress=False)
    with pytest.raises(CatlasError, match="exists"):
        catlas.fit(example_dir, out, preset="tiny", progress=False)
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("do not delete")
    with pytest.raises(CatlasError, match="not a folder catlas created"):
        catlas.fit(example_dir, other, preset="tiny", overwrite=True, progress=False)
    assert (other / "thesis.tex").exists()
    catlas.fit(example_dir, out, preset="tiny", overrides=_tiny(iterations=3), overwrite=True, progress=False)
    assert json.loads((out / "summary.json").read_text())["iterations"] == 3


def test_tampered_checkpoint_is_refused(example_dir, tmp_path):
    out = tmp_path / "run"
    catlas.fit(example_dir, out, preset="tiny", overrides=_tiny(iterations=2), progress=False)
    pointer = json.loads((out / "checkpoint.json").read_text())
    path = out / pointer["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CatlasError, match="checksum"):
        catlas.load_run(out)


def test_malicious_pickle_is_refused(tmp_path):
    """Even with a matching checksum, a checkpoint that needs arbitrary code is not unpickled."""
    import hashlib
    import io

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    torch.save({"model": Evil(), "iteration": 1}, buf)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "x.pt").write_bytes(buf.getvalue())
    (tmp_path / "checkpoint.json").write_text(json.dumps(
        {"file": "checkpoints/x.pt", "sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "iteration": 1}))
    with pytest.raises(CatlasError, match="not a loadable catlas checkpoint"):
        load_checkpoint(tmp_path)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``catlas ARGS`` in a subprocess; with CATLAS_TEST_SIGNAL_AT in ``env``, through
    tests/_signal_at.py (a signal after that step of the fit)."""
    cmd = [SIGNAL_AT] if env and "CATLAS_TEST_SIGNAL_AT" in env else ["-m", "catlas"]
    return subprocess.run([sys.executable, *cmd, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_kill_and_resume_matches_uninterrupted(example_dir, tmp_path):
    """SIGKILL after step 13 (checkpoints every 5), resume: the final weights are bit-identical."""
    common = ["--preset", "tiny", "--device", "cpu", "--quiet", "--set", "train.iterations=24",
              "--set", "train.checkpoint_every=5", "--set", "train.threads=1"]
    ref = _cli("fit", str(example_dir), "--out", str(tmp_path / "ref"), *common)
    assert ref.returncode == 0, ref.stderr
    killed = _cli("fit", str(example_dir), "--out", str(tmp_path / "k"), *common,
                  env={"CATLAS_TEST_SIGNAL_AT": "KILL:13"})
    assert killed.returncode == -9
    assert json.loads((tmp_path / "k" / "checkpoint.json").read_text())["iteration"] == 10
    resumed = _cli("fit", "--resume", str(tmp_path / "k"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(tmp_path / "ref")
    b = load_checkpoint(tmp_path / "k")
    assert a["iteration"] == b["iteration"] == 24
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    def losses(run: str) -> list[list[str]]:  # the CSV without its wall-clock column
        rows = [r.split(",") for r in (tmp_path / run / "losses.csv").read_text().splitlines()]
        drop = rows[0].index("seconds")
        return [r[:drop] + r[drop + 1 :] for r in rows]

    assert losses("k") == losses("ref")
    assert [r[0] for r in losses("k")[1:]] == ["5", "10", "15", "20", "24"]


def test_ctrl_c_writes_checkpoint_and_exits_130(example_dir, tmp_path):
    res = _cli("fit", str(example_dir), "--out", str(tmp_path / "r"), "--preset", "tiny", "--quiet",
               "--device", "cpu", env={"CATLAS_TEST_SIGNAL_AT": "INT:7"})
    assert res.returncode == 130
    assert "--resume" in res.stderr
    assert json.loads((tmp_path / "r" / "checkpoint.json").read_text())["iteration"] == 7


def test_snapshots_for_learning_curves(example_dir, tmp_path):
    from catlas.train.checkpoint import list_snapshots

    out = tmp_path / "run"
    run = catlas.fit(example_dir, out, preset="tiny",
                     overrides={"device": "cpu", "train": {"iterations": 12, "snapshot_every": 4}},
                     progress=False)
    assert list_snapshots(out) == [4, 8, 12]
    early = catlas.load_run(out, snapshot=4)
    final = catlas.load_run(out, snapshot=12)
    assert early.iteration == 4 and final.iteration == 12
    for k, v in run.model.state_dict().items():
        assert torch.equal(final.model.state_dict()[k], v)
    assert not torch.equal(early.model.state_dict()["decoder.uv_weight"], run.model.state_dict()["decoder.uv_weight"])
    with pytest.raises(CatlasError, match="no snapshot"):
        catlas.load_run(out, snapshot=5)


def test_fit_uses_train_threads_and_gives_the_callers_count_back(example_dir, tmp_path):
    """train.threads holds during the fit (summary.json says so) and not after it."""
    before = torch.get_num_threads()
    over = {"device": "cpu", "train": {"iterations": 2, "threads": before + 1}}
    catlas.fit(example_dir, tmp_path / "r", preset="tiny", overrides=over, progress=False)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["threads"] == before + 1
    assert torch.get_num_threads() == before


def test_time_budget_sets_iterations_from_the_fits_own_steps(example_dir, tmp_path):
    """train.minutes: a provisional count from timed steps, then the count from the fit's own
    first steps, recorded so that config.yaml repeats the fit without timing again."""
    out = tmp_path / "run"
    catlas.fit(example_dir, out, preset="tiny", overrides={"device": "cpu", "train": {"minutes": 0.02}},
               progress=False)
    budget = json.loads((out / "time_budget.json").read_text())
    assert budget["minutes"] == 0.02 and budget["timed_step_s"] > 0 and budget["step_s"] > 0
    assert budget["iterations"] == max(budget["calibrated_at"], round(0.02 * 60 / budget["step_s"]))
    saved = catlas.FitConfig.load(out / "config.yaml")
    assert saved.train.minutes is None and saved.train.iterations == budget["iterations"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == budget["iterations"] and summary["time_budget"] == budget
    ckpt = load_checkpoint(out)
    assert FitConfig.from_yaml(ckpt["config"]) == saved
    with pytest.raises(CatlasError, match="minutes must be > 0"):
        make_config("tiny", {"train": {"minutes": 0}})


def test_time_budget_interrupted_before_calibration_resumes_and_calibrates(example_dir, tmp_path):
    """Ctrl-C after 2 steps of a 0.2-minute budget (calibration is due after 0.6 s): the run
    keeps train.minutes until it resumes, then fixes its count from all its steps."""
    out = tmp_path / "r"
    res = _cli("fit", str(example_dir), "--out", str(out), "--preset", "tiny", "--quiet", "--device", "cpu",
               "--minutes", "0.2", "--set", "train.threads=1", env={"CATLAS_TEST_SIGNAL_AT": "INT:2"})
    assert res.returncode == 130, res.stderr
    assert catlas.FitConfig.load(out / "config.yaml").train.minutes == 0.2
    assert json.loads((out / "time_budget.json").read_text())["step_s"] is None
    resumed = _cli("fit", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    budget = json.loads((out / "time_budget.json").read_text())
    assert budget["calibrated_at"] > 2 and budget["iterations"] == load_checkpoint(out)["iteration"]
    assert catlas.FitConfig.load(out / "config.yaml").train.minutes is None


def test_time_budget_fit_equals_a_fit_given_its_final_count(example_dir, tmp_path):
    """The calibration comes before any milestone, so a --minutes fit is bit-identical to a fit
    given its final count from the start (same seed, one thread)."""
    common = ["--preset", "tiny", "--device", "cpu", "--quiet", "--set", "train.threads=1"]
    timed = _cli("fit", str(example_dir), "--out", str(tmp_path / "t"), "--minutes", "0.03", *common)
    assert timed.returncode == 0, timed.stderr
    n = json.loads((tmp_path / "t" / "time_budget.json").read_text())["iterations"]
    plain = _cli("fit", str(example_dir), "--out", str(tmp_path / "p"), "--iterations", str(n), *common)
    assert plain.returncode == 0, plain.stderr
    a, b = load_checkpoint(tmp_path / "t"), load_checkpoint(tmp_path / "p")
    assert a["iteration"] == b["iteration"] == n
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_budget_calibration_comes_before_any_milestone():
    from catlas.train.budget import calibrated_iterations, calibration_due

    # 10 min budget, provisional 10,000 steps: due at 30 s of training or 1,000 steps
    assert not calibration_due(10, 10_000, 400, 29.0)
    assert calibration_due(10, 10_000, 400, 30.0) and calibration_due(10, 10_000, 1000, 5.0)
    # 400 steps in 30 s: 75 ms per step -> 8,000 steps in 10 min; the calibration point is then
    # 5 % of the run, before the curriculum (15 %) and the learning-rate decay (80 %)
    assert calibrated_iterations(10, 400, 30.0) == 8000
    assert calibrated_iterations(0.001, 400, 30.0) == 400  # never fewer than the steps taken


def test_iterations_for_a_budget():
    from catlas.train.budget import iterations_for

    assert iterations_for(10, 0.04) == 15000 and iterations_for(1, 0.021) == 2857
    assert iterations_for(0.001, 5.0) == 1  # never zero steps


def test_encoder_sees_the_first_encoder_points_and_chamfer_all(example_dir, tmp_path, monkeypatch):
    """data.encoder_points=k: a step encodes the first k of the N drawn points (a random subset)
    and the Chamfer term still compares with all N; a fitted run's codes come from each frame's
    first k stored points; a config saved before the setting existed loads with it off."""
    from catlas.config import DataConfig
    from catlas.train import loop

    with pytest.raises(ValueError, match="encoder_points"):
        DataConfig(points_per_step=100, encoder_points=101)
    with pytest.raises(ValueError, match="encoder_points"):
        DataConfig(points_per_step=100, encoder_points=0)
    cfg = make_config("tiny", {"device": "cpu", "data": {"encoder_points": 50}})
    assert cfg.data.points_per_step == 200 and cfg.data.encoded_points() == 50
    state = loop.new_state(cfg, torch.device("cpu"))
    seen: dict[str, tuple[int, ...]] = {}
    encode = state.model.encoder.forward
    monkeypatch.setattr(state.model.encoder, "forward",
                        lambda pts: (seen.__setitem__("encoder", tuple(pts.shape)), encode(pts))[1])
    step_loss_ = loop.step_loss
    monkeypatch.setattr(loop, "step_loss",
                        lambda xyz, jac, clouds, *a, **k: (seen.__setitem__("chamfer", tuple(clouds.shape)),
                                                           step_loss_(xyz, jac, clouds, *a, **k))[1])
    points = torch.rand(6, 400, 3)
    loop.training_step(state, cfg, points, None, 1e-3)
    assert seen == {"encoder": (4, 50, 3), "chamfer": (4, 200, 3)}
    monkeypatch.undo()

    run = catlas.fit(example_dir, tmp_path / "run", config=cfg, progress=False)
    with torch.inference_mode():
        first = torch.as_tensor(run.sequence.points[:, :50])
        torch.testing.assert_close(run.codes(), run.model.encode(first))
        assert not torch.allclose(run.codes(), run.model.encode(torch.as_tensor(run.sequence.points[:, :200])))
    d = cfg.to_dict()
    del d["data"]["encoder_points"]
    assert FitConfig.from_yaml(yaml.safe_dump(d)).data.encoded_points() == 200


def test_a_run_written_by_an_older_catlas_resumes_or_is_refused_clearly(example_dir, tmp_path):
    """A version-1 config.yaml (no version, removed settings at the kept behaviour, nulls for
    the method defaults) resumes as the same fit and is rewritten as the current version; one that used a
    removed setting is refused with one line naming the file and the setting."""
    from catlas.config import CONFIG_VERSION

    out = tmp_path / "r"
    catlas.fit(example_dir, out, preset="tiny", overrides={"device": "cpu", "train": {"iterations": 4}},
               progress=False)
    d = yaml.safe_load((out / "config.yaml").read_text())
    fitted = FitConfig.from_dict(d)
    del d["version"]
    d["loss"].update(alpha_iso=0.0, alpha_motion=None)
    d["train"]["curriculum"] = None
    (out / "config.yaml").write_text(yaml.safe_dump(d))
    run = catlas.fit(None, out, resume=True, overrides={"train": {"iterations": 6}}, progress=False)
    assert run.iteration == 6
    again = yaml.safe_load((out / "config.yaml").read_text())
    assert again["version"] == CONFIG_VERSION and again["loss"]["alpha_motion"] == 0.1 and again["train"]["curriculum"] is True
    assert FitConfig.from_dict(again).loss == fitted.loss
    del again["version"]
    again["loss"]["alpha_iso"] = 0.1
    (out / "config.yaml").write_text(yaml.safe_dump(again))
    with pytest.raises(CatlasError, match=r"config.yaml: loss.alpha_iso=0.1: this setting was removed"):
        catlas.fit(None, out, resume=True, overrides={"train": {"iterations": 8}}, progress=False)


def test_the_former_method_name_ours_is_read_as_mca(tmp_path):
    """The paper's method is mca; "ours", its former name, is still accepted (config files of
    any version, --set loss.method, the API) and read as mca, so config.yaml says mca."""
    from catlas.config import parse_override

    assert LossConfig(method="ours").method == "mca"
    assert make_config("tiny", parse_override("loss.method=ours")) == make_config("tiny")
    d = make_config("fast").to_dict()
    d["loss"]["method"] = "ours"
    assert FitConfig.from_yaml(yaml.safe_dump(d)).loss.method == "mca"  # version 1
    assert FitConfig.from_yaml(yaml.safe_dump({"version": 2, **d})).loss.method == "mca"
    assert "method: mca" in FitConfig.from_yaml(yaml.safe_dump(d)).to_yaml()


def test_trims_are_checked_reach_the_step_and_older_configs_load_without_them():
    """loss.input_trim and loss.surface_trim: in [0, 0.5]; the step's chamfer term is the
    trimmed Chamfer of its points and clouds; a config.yaml without them loads with every point
    and sample kept."""
    from catlas.losses.chamfer import chamfer_distance

    for name in ("input_trim", "surface_trim"):
        for bad in (-0.1, 0.6, float("nan")):
            with pytest.raises(ValueError, match=name):
                _loss(**{name: bad})
    xyz, clouds = torch.rand(4, 2, 5, 3), torch.rand(4, 20, 3)
    clouds[:, :2] += 10.0  # two far outliers per frame
    full = step_loss(xyz, None, clouds, _loss(method="atlasnet"))[1]["chamfer"]
    trimmed = step_loss(xyz, None, clouds, _loss(method="atlasnet", input_trim=0.1))[1]["chamfer"]
    torch.testing.assert_close(trimmed, chamfer_distance(xyz.reshape(4, -1, 3), clouds, trim=0.1))
    assert float(trimmed) < 0.1 * float(full)
    both = step_loss(xyz, None, clouds, _loss(method="atlasnet", input_trim=0.1, surface_trim=0.3))[1]
    torch.testing.assert_close(both["chamfer"], chamfer_distance(xyz.reshape(4, -1, 3), clouds, trim=0.1,
                                                                 pred_trim=0.3))
    assert float(both["chamfer"]) < float(trimmed)
    fast = make_config("fast")
    assert fast.loss.input_trim == 0.0 and fast.loss.surface_trim == 0.0
    d = yaml.safe_load(fast.to_yaml())
    del d["loss"]["input_trim"], d["loss"]["surface_trim"]
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == fast


# ---------------------------------------------------------------- loss.alpha_ssc (rigid copies)


def test_ssc_settings_are_checked_and_configs_without_them_load_with_the_term_off():
    """loss.alpha_ssc / ssc_copies / ssc_translation: checked like the other settings; a
    config.yaml written before they existed (any version) loads with the term off, as it ran."""
    for bad in ({"ssc_copies": 1}, {"ssc_copies": 10**6}, {"alpha_ssc": -0.1},
                {"ssc_translation": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            _loss(**bad)
    fast = make_config("fast")
    assert (fast.loss.alpha_ssc, fast.loss.ssc_copies, fast.loss.ssc_translation) == (0.0, 12, 0.2)
    d = yaml.safe_load(fast.to_yaml())
    for key in ("alpha_ssc", "ssc_copies", "ssc_translation"):
        del d["loss"][key]
    assert FitConfig.from_yaml(yaml.safe_dump(d)) == fast
    del d["version"]  # version 1 (older catlas): also off
    assert FitConfig.from_yaml(yaml.safe_dump(d)).loss.alpha_ssc == 0.0


def _record_passes(state, monkeypatch) -> tuple[list, list]:
    """The clouds each encoder pass sees and (frames, jacobian) of each decoder pass."""
    enc, dec = [], []
    encode, decode = state.model.encoder.forward, state.model.decoder.forward
    monkeypatch.setattr(state.model.encoder, "forward", lambda pts: (enc.append(pts.detach().clone()), encode(pts))[1])
    monkeypatch.setattr(state.model.decoder, "forward",
                        lambda uv, codes, jacobian=False: (dec.append((codes.shape[0], jacobian)),
                                                           decode(uv, codes, jacobian=jacobian))[1])
    return enc, dec


def test_ssc_step_encodes_rigid_copies_of_each_pair_and_does_no_extra_work_when_off(monkeypatch):
    """alpha_ssc > 0, S = 3: one encoder pass over the 4 frames and their 8 copies (each pair's
    two frames moved by the same S - 1 transforms, drawn after the uv samples), the Jacobian
    decoded for the 4 frames only; the term is logged. alpha_ssc = 0: the step as without the
    setting (one pass over 4 frames, no draws, no column), whatever ssc_copies says."""
    from catlas.geometry.uv import random_uv
    from catlas.losses.ssc import random_rigid_copies, rigid_apply
    from catlas.train import loop

    points = torch.rand(6, 400, 3)
    for alpha in (0.1, 0.0):
        cfg = make_config("tiny", {"device": "cpu", "train": {"curriculum": False},
                                   "loss": {"alpha_ssc": alpha, "ssc_copies": 3}})
        state = loop.new_state(cfg, torch.device("cpu"))
        enc, dec = _record_passes(state, monkeypatch)
        terms = loop.training_step(state, cfg, points, None, 1e-3)
        monkeypatch.undo()
        g = torch.Generator().manual_seed(cfg.train.seed)  # replay the step's draws
        frames = sample_pairs(6, 2, cfg.loss.tau, g)
        clouds = sample_points(points, frames, cfg.data.points_per_step, g)
        random_uv(cfg.model.n_patches, cfg.train.uv_samples // cfg.model.n_patches, g)
        if alpha == 0:
            assert len(enc) == 1 and enc[0].shape[0] == 4 and dec == [(4, True)]
            assert "ssc" not in terms
        else:
            rot, trans = random_rigid_copies(2, 3, 0.2, g)
            rot, trans = rot.repeat_interleave(2, 0), trans.repeat_interleave(2, 0)
            assert len(enc) == 1 and enc[0].shape[0] == 12 and dec == [(4, True), (8, False)]
            torch.testing.assert_close(enc[0][:4], clouds)
            moved = enc[0][4:].unflatten(0, (4, 2))
            # frames 2k and 2k + 1 (one pair) moved by the pair's draw
            torch.testing.assert_close(moved, rigid_apply(clouds, rot[:, 1:], trans[:, 1:]))
            assert not torch.allclose(rot[0], rot[2])  # pairs move independently
            assert float(terms["ssc"]) > 0
        assert torch.equal(state.generator.get_state(), g.get_state())


def test_fit_with_ssc_logs_the_term_and_records_its_settings(example_dir, tmp_path):
    """A tiny fit with alpha_ssc = 0.1 and 2 copies runs, logs ssc in losses.csv and records the
    settings in config.yaml (a resume reads them back)."""
    out = tmp_path / "ssc"
    catlas.fit(example_dir, out, preset="tiny", progress=False,
               overrides={"device": "cpu", "loss": {"alpha_ssc": 0.1, "ssc_copies": 2, "ssc_translation": 0.1},
                          "train": {"iterations": 10}})
    rows = [r.split(",") for r in (out / "losses.csv").read_text().splitlines()]
    col = rows[0].index("ssc")
    values = [float(r[col]) for r in rows[1:]]
    assert len(values) == 2 and all(v > 0 and math.isfinite(v) for v in values)
    saved = yaml.safe_load((out / "config.yaml").read_text())["loss"]
    assert (saved["alpha_ssc"], saved["ssc_copies"], saved["ssc_translation"]) == (0.1, 2, 0.1)
    assert FitConfig.load(out / "config.yaml").loss.ssc_copies == 2
