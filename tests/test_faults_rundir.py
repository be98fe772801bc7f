"""Fault suite, run folders: what --overwrite may replace, one writer per folder, resume checks,
file-system faults, file modes. Every case checks the exit code, the one-line message and the
files before and after."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _faults import assert_one_line_error, run_cli, tree
from _signal_at import signal_after

TINY = ("--preset", "tiny", "--quiet")


@pytest.fixture(scope="module")
def frames(example_dir) -> Path:
    """The shared built-in example (conftest)."""
    return example_dir


@pytest.fixture(scope="module")
def finished(tmp_path_factory, frames) -> Path:
    """A finished tiny run with an evaluation, every export format and renders."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert run_cli("fit", frames, "--out", run, *TINY)[0] == 0
    assert run_cli("eval", run, "--pairs", "4")[0] == 0
    assert run_cli("export", run, "--format", "obj", "ply", "glb", "pc2", "--quiet")[0] == 0
    assert run_cli("render", run, "--size", "32", "--quiet")[0] == 0
    assert run_cli("render", run, "--correspondences", "--size", "32", "--quiet")[0] == 0
    return run


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def _hidden_siblings(folder: Path) -> list[str]:
    return [p.name for p in folder.parent.iterdir() if ".catlas-replaced-" in p.name]


# ---------------------------------------------------------------- what --overwrite may replace

def test_a_full_run_folder_is_recognised_and_replaced(run_copy, frames):
    from catlas.rundir import foreign_entries, read_marker

    assert foreign_entries(run_copy) == []
    old_id = read_marker(run_copy)["run_id"]
    code, out, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert code == 0, err
    assert read_marker(run_copy)["run_id"] != old_id
    assert not (run_copy / "eval").exists() and not (run_copy / "export").exists()
    assert _hidden_siblings(run_copy) == []


@pytest.mark.parametrize("layout", [
    {"config.yaml": "a: 1\n", "thesis.txt": "mine", "sub/results.csv": "1,2\n"},  # a user's own config.yaml
    {"config.yaml": "a: 1\n"},  # looks like a run, not marked
])
def test_overwrite_refuses_a_folder_catlas_did_not_create(tmp_path, frames, layout):
    out = tmp_path / "mine"
    for rel, text in layout.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", out, *TINY, "--overwrite")
    assert_one_line_error(code, err, str(out), "not a folder catlas created")
    assert tree(tmp_path) == before


def test_overwrite_refuses_an_unmarked_copy_of_a_run(run_copy, frames, tmp_path):
    (run_copy / ".catlas-run.json").unlink()
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "not a folder catlas created")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("extra", ["notes.txt", "meshes/my_edit.obj", "export/obj/frame_0000.blend",
                                   "private/", "eval/metrics.json.bak"])
def test_overwrite_refuses_a_run_holding_a_users_file(run_copy, frames, tmp_path, extra):
    target = run_copy / extra.rstrip("/")
    if extra.endswith("/"):
        target.mkdir()
        (target / "x.txt").write_text("mine")
    else:
        target.write_text("mine")
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "holds files catlas did not write", extra.rstrip("/"))
    assert tree(tmp_path) == before


def test_overwrite_refuses_a_symlink_inside_the_run(run_copy, frames, tmp_path):
    (tmp_path / "elsewhere.txt").write_text("mine")
    os.symlink(tmp_path / "elsewhere.txt", run_copy / "summary.json.link")
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "summary.json.link")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("out", ["", ".", ".."])
def test_out_is_never_the_current_folder_or_above(tmp_path, frames, out):
    work = tmp_path / "project" / "work"
    shutil.copytree(frames, work / "frames")
    (work / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    code, _, err = run_cli("fit", "frames", "--out", out, *TINY, "--overwrite", cwd=work)
    assert_one_line_error(code, err, "current folder")
    assert tree(tmp_path) == before


def test_out_never_holds_the_input(run_copy, tmp_path):
    before = tree(tmp_path)
    code, _, err = run_cli("fit", run_copy / "meshes", "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "holds the input")
    assert tree(tmp_path) == before


def test_out_is_a_file_or_a_symlink(tmp_path, frames):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", tmp_path / "file", *TINY, "--overwrite")
    assert_one_line_error(code, err, "not a folder")
    code, _, err = run_cli("fit", frames, "--out", tmp_path / "link", *TINY)
    assert_one_line_error(code, err, "symbolic link")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("bad", ["nan_input", "bad_setting", "bad_device"])
def test_a_refused_replacement_leaves_the_old_run_as_it_was(run_copy, frames, tmp_path, bad):
    args = [frames, "--out", run_copy, *TINY, "--overwrite"]
    if bad == "nan_input":
        pts = np.random.default_rng(0).normal(size=(300, 3))
        pts[3, 1] = np.nan
        (tmp_path / "clouds").mkdir()
        np.savetxt(tmp_path / "clouds" / "a.xyz", pts)
        np.savetxt(tmp_path / "clouds" / "b.xyz", pts)
        args[0] = tmp_path / "clouds"
    elif bad == "bad_setting":
        args += ["--set", "model.n_patches=0"]
    else:
        args += ["--device", "cuda:7"]
    before = tree(tmp_path)
    code, _, err = run_cli("fit", *args)
    assert_one_line_error(code, err)
    assert tree(tmp_path) == before


def test_a_failed_replacement_restores_the_old_run(run_copy, frames, tmp_path, monkeypatch):
    """The new fit fails mid-way (a non-finite loss): the old run is back, bit for bit."""
    import torch

    from catlas.train import loop

    real = loop.training_step

    def nan_step(*a, **k):
        terms = real(*a, **k)
        return {key: torch.full_like(v, float("nan")) for key, v in terms.items()}

    monkeypatch.setattr(loop, "training_step", nan_step)
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "non-finite")
    assert tree(tmp_path) == before


# ---------------------------------------------------------------- one writer per run folder

def _hold_lock(folder: Path):
    folder.mkdir(exist_ok=True)
    fh = open(folder / ".catlas.lock", "a")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fh


@pytest.mark.parametrize("how", ["new", "resume", "overwrite"])
def test_a_second_writer_is_refused(run_copy, frames, tmp_path, how):
    target = tmp_path / "new" if how == "new" else run_copy
    fh = _hold_lock(target)
    try:
        before = tree(tmp_path)
        if how == "resume":
            code, _, err = run_cli("fit", "--resume", target, "--iterations", "30", "--quiet")
        else:
            code, _, err = run_cli("fit", frames, "--out", target, *TINY, "--overwrite")
        assert_one_line_error(code, err, str(target), "in use by another catlas process")
        assert tree(tmp_path) == before
    finally:
        fh.close()


def test_two_fits_into_one_new_folder_at_once(tmp_path, frames):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "catlas", "fit", str(frames), "--out", str(out), *TINY,
           "--set", "train.iterations=60"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    err = next(e for c, e in results if c == 2)
    assert any(s in err for s in ("in use by another", "run folder exists", "meanwhile")), err
    rows = (out / "losses.csv").read_text().splitlines()
    assert sum(r.startswith("iteration") for r in rows) == 1 and len(rows) == 1 + 60 // 5


# ---------------------------------------------------------------- resume

def test_resume_refuses_fewer_iterations_than_made(run_copy, tmp_path):
    before = tree(tmp_path)
    code, _, err = run_cli("fit", "--resume", run_copy, "--iterations", "5", "--quiet")
    assert_one_line_error(code, err, "--iterations 5", "20 steps")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("garble", ["iteration,seconds\nabc\n", "\x00\x01\x02", "x,y\n1,2\n"])
def test_resume_refuses_a_garbled_loss_log(run_copy, tmp_path, garble):
    (run_copy / "losses.csv").write_text(garble)
    before = tree(tmp_path)
    code, _, err = run_cli("fit", "--resume", run_copy, "--iterations", "30", "--quiet")
    assert_one_line_error(code, err, "losses.csv")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", [["fit", "--resume", "{run}", "--quiet"], ["eval", "{run}", "--overwrite"],
                                     ["export", "{run}", "--format", "obj", "--overwrite"]])
@pytest.mark.parametrize("config", ["binary", "folder"])
def test_a_broken_config_yaml_gives_one_line(run_copy, tmp_path, command, config):
    (run_copy / "config.yaml").unlink()
    if config == "binary":
        (run_copy / "config.yaml").write_bytes(bytes(range(256)))
    else:
        (run_copy / "config.yaml").mkdir()
    before = tree(tmp_path)
    code, _, err = run_cli(*[str(run_copy) if a == "{run}" else a for a in command])
    assert_one_line_error(code, err, "config.yaml")
    assert tree(tmp_path) == before


def test_a_checkpoint_with_code_is_refused_without_unsafe_advice(run_copy, tmp_path):
    import hashlib

    import torch

    pointer = json.loads((run_copy / "checkpoint.json").read_text())
    path = run_copy / pointer["file"]
    torch.save({"model": {}, "iteration": 1, "evil": Path("x")}, path)  # a pickled object
    pointer["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (run_copy / "checkpoint.json").write_text(json.dumps(pointer))
    before = tree(tmp_path)
    code, _, err = run_cli("eval", run_copy, "--overwrite")
    line = assert_one_line_error(code, err, str(path), "weights only")
    assert "weights_only=False" not in line and "False" not in line
    assert tree(tmp_path) == before


def test_an_interrupted_run_is_named_when_used(tmp_path, frames, monkeypatch):
    out = tmp_path / "run"
    from catlas.train import loop

    with monkeypatch.context() as m:  # Ctrl-C right after step 10
        m.setattr(loop, "training_step", signal_after(loop.training_step, "INT:10"))
        code, _, err = run_cli("fit", frames, "--out", out, *TINY)
    assert code == 130 and "--resume" in err
    code, _, err = run_cli("export", out, "--format", "obj", "--quiet")
    assert code == 0
    warns = [ln for ln in err.splitlines() if ln.strip()]
    assert len(warns) == 1 and warns[0].startswith("catlas: warning:"), err
    assert "iteration 10 of 20" in warns[0]
    code, _, err = run_cli("fit", "--resume", out, "--quiet")
    assert code == 0, err
    code, _, err = run_cli("export", out, "--format", "obj", "--quiet", "--overwrite")
    assert code == 0 and err.strip() == "", err


# ---------------------------------------------------------------- file-system faults

def test_a_folder_that_cannot_be_created(tmp_path, frames, monkeypatch):
    """A read-only parent (simulated: the tests may run as root, which ignores modes)."""
    out = tmp_path / "ro" / "run"
    real_mkdir = Path.mkdir

    def refuse(self, *a, **k):
        if self == out or out.is_relative_to(self) and not self.exists():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", refuse)
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", out, *TINY)
    assert_one_line_error(code, err, str(tmp_path / "ro"), "Permission denied")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fail_at", [1, 2])
def test_disk_full_leaves_a_resumable_run_or_nothing(tmp_path, frames, monkeypatch, fail_at):
    """The checkpoint write fails with ENOSPC at the first (nothing to keep) or the second
    checkpoint (the first is kept and the run resumes to the end)."""
    from catlas.train import checkpoint

    real = checkpoint.atomic_write_bytes
    calls = {"n": 0}

    def full(path, data):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full)
    out = tmp_path / "run"
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", out, *TINY)
    assert_one_line_error(code, err, "No space left on device", str(out))
    if fail_at == 1:
        assert tree(tmp_path) == before
        return
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", real)
    code, _, err = run_cli("fit", "--resume", out, "--quiet")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["iterations"] == 20


def test_disk_full_while_replacing_restores_the_old_run(run_copy, frames, tmp_path, monkeypatch):
    from catlas.train import checkpoint

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full)
    before = tree(tmp_path)
    code, _, err = run_cli("fit", frames, "--out", run_copy, *TINY, "--overwrite")
    assert_one_line_error(code, err, "No space left on device")
    assert tree(tmp_path) == before


# ---------------------------------------------------------------- file modes

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, frames, umask, mode):
    old = os.umask(umask)
    try:
        assert run_cli("fit", frames, "--out", tmp_path / "run", *TINY)[0] == 0
    finally:
        os.umask(old)
    for name in ("config.yaml", "sequence.npz", "checkpoint.json", "summary.json", "losses.csv",
                 "meshes/frame_0000.obj"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == mode, name
