"""Bad settings and arguments: one line ``catlas: error: ...`` naming the setting or option, exit
code 2, no traceback, and nothing written (no run folder, no change to an existing run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import catlas
from catlas.config import DataConfig, FitConfig, TrainConfig, make_config, parse_override
from catlas.errors import CatlasError

from _faults import assert_one_line_error, run_cli, tree

TINY = ("--preset", "tiny", "--quiet")


@pytest.fixture(scope="module")
def frames(example_dir) -> Path:
    """The shared built-in example (conftest)."""
    return example_dir


@pytest.fixture(scope="module")
def run_dir(frames, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults_settings") / "run"
    catlas.fit(frames, out, preset="tiny", overrides={"device": "cpu"}, progress=False)
    return out


# ----------------------------------------------------------------------------- fit: settings

FIT_CASES = [
    # (arguments after INPUT --out DIR, words the error line must hold)
    (["--set", "model.n_patches=0"], ["model.n_patches", "got 0"]),
    (["--set", "model.n_patches=100000"], ["model.n_patches", "1024"]),
    (["--set", "model.code_dim=1000000"], ["model.code_dim", "8192"]),
    (["--set", "model.encoder_widths=[16, 0]"], ["encoder_widths", "[16, 0]"]),
    (["--set", "model.decoder_widths=[]"], ["decoder_widths", "[]"]),
    (["--set", "model.encoder_widths=16"], ["model.encoder_widths", "list of integers", "16"]),
    (["--set", "train.checkpoint_every=0"], ["train.checkpoint_every", "got 0"]),
    (["--set", "train.log_every=-5"], ["train.log_every", "-5"]),
    (["--set", "train.snapshot_every=-1"], ["train.snapshot_every", "-1"]),
    (["--set", "train.uv_samples=0"], ["train.uv_samples", "got 0"]),
    (["--set", "train.uv_samples=100000000"], ["train.uv_samples", "1_000_000"]),
    (["--set", "train.pairs_per_step=0"], ["train.pairs_per_step", "got 0"]),
    (["--set", "train.mesh_resolution=1"], ["train.mesh_resolution", "[2, 512]", "got 1"]),
    (["--set", "train.threads=-1"], ["train.threads", "-1"]),
    (["--set", "train.grow_window_init=0"], ["grow_window_init", "got 0"]),
    (["--set", "train.lr=-1"], ["train.lr", "> 0", "-1"]),
    (["--set", "train.lr=0"], ["train.lr", "> 0"]),
    (["--set", "train.lr=.inf"], ["train.lr", "inf"]),
    (["--set", "train.lr=abc"], ["train.lr", "a number", "'abc'"]),
    (["--set", "train.lr=[1, 2]"], ["train.lr", "a number", "[1, 2]"]),
    (["--set", "train.lr=true"], ["train.lr", "a number", "True"]),
    (["--set", "train.seed=-1"], ["train.seed", "-1"]),
    (["--seed", "-1"], ["train.seed", "-1"]),
    (["--set", "train.iterations=abc"], ["train.iterations", "an integer", "'abc'"]),
    (["--set", "train.iterations=1.5"], ["train.iterations", "an integer", "1.5"]),
    (["--set", "train.iterations=true"], ["train.iterations", "an integer", "True"]),
    (["--set", "train.iterations=[5]"], ["train.iterations", "an integer", "[5]"]),
    (["--iterations", "0"], ["--iterations", "got 0"]),
    (["--minutes", "inf"], ["minutes must be > 0", "inf"]),
    (["--minutes", "nan"], ["minutes must be > 0", "nan"]),
    (["--minutes", "0"], ["minutes must be > 0"]),
    (["--set", "train.curriculum=maybe"], ["train.curriculum", "true or false", "maybe"]),
    (["--set", "train.lr_decay_at=[0.5"], ["--set train.lr_decay_at=[0.5", "not valid YAML"]),
    (["--set", "train.lr_decay_at=[0.5, late]"], ["train.lr_decay_at", "list of numbers"]),
    (["--set", "data.points_per_step=5000"], ["data.points_per_step", "points_per_frame=400", "5000"]),
    (["--set", "data.points_per_step=0"], ["data.points_per_step", "got 0"]),
    (["--set", "data.points_per_frame=0"], ["data.points_per_frame", "got 0"]),
    (["--set", "data.points_per_frame=100000000"], ["data.points_per_frame", "1_000_000"]),
    (["--set", "data.points_per_frame=1e9"], ["data.points_per_frame", "an integer", "'1e9'"]),
    (["--set", "data.min_points=0"], ["data.min_points", "got 0"]),
    (["--set", "data.normalize=3"], ["data.normalize", "true or false", "3"]),
    (["--set", "loss.tau=0"], ["loss.tau", "got 0"]),
    (["--set", "loss.alpha_mc=-0.5"], ["loss.alpha_mc", ">= 0", "-0.5"]),
    (["--set", "loss.alpha_mc=.nan"], ["loss.alpha_mc", "nan"]),
    (["--set", "loss.alpha_dsr=-1"], ["loss.alpha_dsr", "-1"]),
    (["--set", "loss.cross_from=1.5"], ["loss.cross_from", "[0, 1]", "1.5"]),
    (["--set", "loss.metric_samples=0"], ["loss.metric_samples", "got 0"]),
    (["--set", "loss.method=3"], ["loss.method", "a string", "3"]),
    (["--set", "device=[cpu]"], ["device", "a string"]),
    (["--set", "=3"], ["--set =3", "empty"]),
    (["--set", "train.=3"], ["--set train.=3", "empty"]),
    (["--set", "train.nosuch=1"], ["config.train", "nosuch"]),
    (["--set", "nosection.x=1"], ["nosection"]),
    (["--set", "train=3"], ["config.train", "mapping"]),
]


@pytest.mark.parametrize("extra, needles", FIT_CASES, ids=[" ".join(c[0]) for c in FIT_CASES])
def test_bad_fit_setting_gives_one_line_and_writes_nothing(tmp_path, frames, extra, needles):
    (tmp_path / "mine.txt").write_text("keep")
    out = tmp_path / "run"
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", out, *TINY, *extra)
    assert_one_line_error(code, err, *needles)
    assert not out.exists()
    assert tree(tmp_path) == before


@pytest.mark.parametrize("text, value", [("train.lr=1e-3", 1e-3), ("train.lr=0.002", 0.002),
                                          ("train.lr=2", 2.0), ("train.lr=1.5E-4", 1.5e-4)])
def test_float_settings_accept_every_number_spelling(text, value):
    # YAML 1.1 (PyYAML) reads 1e-3 as a string: a float setting takes it as the number it spells
    cfg = make_config("tiny", parse_override(text))
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == pytest.approx(value)
    assert FitConfig.from_yaml(cfg.to_yaml()) == cfg


@pytest.mark.parametrize("text, value", [("train.lr=1e-3", 1e-3), ("train.lr=0.002", 0.002)])
def test_fit_with_a_learning_rate_override_records_it(tmp_path, frames, text, value):
    out = tmp_path / "run"
    code, _, err = run_cli("fit", frames, "--out", out, *TINY, "--iterations", "2", "--set", text)
    assert code == 0, err
    assert FitConfig.load(out / "config.yaml").train.lr == pytest.approx(value)


def test_library_refuses_the_same_settings():
    with pytest.raises(CatlasError, match=r"config\.model\.n_patches"):
        make_config("tiny", {"model": {"n_patches": 0}})
    with pytest.raises(CatlasError, match=r"config\.train\.iterations: expected an integer"):
        make_config("tiny", {"train": {"iterations": "abc"}})
    with pytest.raises(ValueError, match="points_per_step"):  # direct construction: ValueError
        FitConfig(data=DataConfig(points_per_frame=100, points_per_step=200))
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    for good in ("paper", "fast", "demo", "tiny"):  # every preset passes the checks
        assert FitConfig.from_yaml(make_config(good).to_yaml()) == make_config(good)


# ----------------------------------------------------------------------------- a run's config.yaml

@pytest.mark.parametrize("edit, needles", [
    (lambda d: d["train"].update(lr=-1.0), ["config.yaml", "config.train.lr", "-1"]),
    (lambda d: d["model"].update(n_patches="four"), ["config.yaml", "config.model.n_patches", "'four'"]),
    (lambda d: d["train"].update(mesh_resolution=0), ["config.yaml", "config.train.mesh_resolution"]),
    (None, ["config.yaml", "not valid YAML"]),
])
def test_a_run_with_a_bad_config_yaml_is_refused(tmp_path, run_dir, edit, needles):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    cfg = run / "config.yaml"
    if edit is None:
        cfg.write_text(cfg.read_text() + "\ntrain: [0.5\n")
    else:
        d = yaml.safe_load(cfg.read_text())
        edit(d)
        cfg.write_text(yaml.safe_dump(d, sort_keys=False))
    before = tree(tmp_path)
    code, _, err = run_cli("export", run, "--format", "obj", "--quiet")
    assert_one_line_error(code, err, *needles)
    assert tree(tmp_path) == before


# ----------------------------------------------------------------------------- other commands

RUN_CASES = [
    (["eval", "{run}", "--points", "0"], ["--points", "got 0"]),
    (["eval", "{run}", "--points", "2"], ["--points", "4 patches", "got 2"]),
    (["eval", "{run}", "--points", "100000000"], ["--points", "100_000"]),
    (["eval", "{run}", "--pairs", "0"], ["--pairs", "got 0"]),
    (["eval", "{run}", "--pairs", "-3"], ["--pairs", "-3"]),
    (["eval", "{run}", "--seed", "-1"], ["--seed", "-1"]),
    (["correspond", "{run}", "--from", "0", "--to", "1", "--out", "{tmp}/c.npz", "--samples", "0"],
     ["--samples", "got 0"]),
    (["correspond", "{run}", "--from", "0", "--to", "1", "--out", "{tmp}/c.npz", "--samples", "100000000"],
     ["--samples", "100_000"]),
    (["export", "{run}", "--format", "glb", "--out", "{tmp}/x", "--fps", "0"], ["--fps", "got 0"]),
    (["export", "{run}", "--format", "glb", "--out", "{tmp}/x", "--fps", "-1"], ["--fps", "-1"]),
    (["export", "{run}", "--format", "glb", "--out", "{tmp}/x", "--fps", "inf"], ["--fps", "inf"]),
    (["export", "{run}", "--format", "glb", "--out", "{tmp}/x", "--fps", "nan"], ["--fps", "nan"]),
    (["export", "{run}", "--format", "obj", "--out", "{tmp}/x", "--resolution", "0"],
     ["--resolution", "[2, 512]", "got 0"]),
    (["export", "{run}", "--format", "obj", "--out", "{tmp}/x", "--resolution", "1"],
     ["--resolution", "got 1"]),
    (["export", "{run}", "--format", "obj", "--out", "{tmp}/x", "--resolution", "1000000"],
     ["--resolution", "1000000"]),
    (["render", "{run}", "--out", "{tmp}/r", "--size", "0"], ["--size", "[16, 4096]", "got 0"]),
    (["render", "{run}", "--out", "{tmp}/r", "--size", "100000"], ["--size", "100000"]),
    (["render", "{run}", "--out", "{tmp}/r", "--resolution", "0"], ["--resolution", "got 0"]),
    (["render", "{run}", "--out", "{tmp}/r", "--resolution", "1"], ["--resolution", "got 1"]),
    (["render", "{run}", "--out", "{tmp}/r", "--fps", "-1"], ["--fps", "-1"]),
    (["render", "{run}", "--out", "{tmp}/r", "--azim", "nan"], ["--azim", "nan"]),
    (["render", "{run}", "--out", "{tmp}/r", "--correspondences", "--frames", "0"], ["--frames", "got 0"]),
    (["bench", "--preset", "tiny", "--frames", "1"], ["--frames", "got 1"]),
    (["bench", "--preset", "tiny", "--repeats", "0"], ["--repeats", "got 0"]),
    (["bench", "--preset", "tiny", "--set", "train.lr=-1"], ["config.train.lr", "-1"]),
    (["example", "{tmp}/ex", "--frames", "0"], ["example frames", "got 0"]),
]


@pytest.mark.parametrize("argv, needles", RUN_CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in RUN_CASES])
def test_bad_option_gives_one_line_and_changes_nothing(tmp_path, run_dir, argv, needles):
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in argv]
    before_run, before_tmp = tree(run_dir), tree(tmp_path)
    code, _, err = run_cli(*argv)
    assert_one_line_error(code, err, *needles)
    assert tree(run_dir) == before_run
    assert tree(tmp_path) == before_tmp


def test_an_os_error_is_one_line_naming_the_path(tmp_path, frames):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code, _, err = run_cli("fit", frames, "--out", blocker / "run", *TINY)
    line = assert_one_line_error(code, err, str(blocker))
    assert line.startswith("catlas: error: ")
    assert blocker.read_text() == "not a folder"
