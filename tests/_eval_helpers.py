"""Shared by the evaluation/correspondence tests: one short tiny fit per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_CACHE: dict[str, Path] = {}

FIT_ITERATIONS = 40


def fitted_run_dir(example_dir: Path, tmp_root: Path) -> Path:
    """A tiny-preset fit of the built-in example (6 frames), made once per process."""
    if "run" not in _CACHE:
        import catlas

        out = tmp_root / "tiny_run"
        catlas.fit(example_dir, out, preset="tiny",
                   overrides={"device": "cpu", "train": {"iterations": FIT_ITERATIONS}}, progress=False)
        _CACHE["run"] = out
    return _CACHE["run"]


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m catlas ARGS`` and capture text output."""
    return subprocess.run([sys.executable, "-m", "catlas", *args], capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(p: subprocess.CompletedProcess, *words: str) -> None:
    """Non-zero exit and exactly one stderr line ``catlas: error: ...`` containing ``words``."""
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("catlas: error:"), p.stderr
    for w in words:
        assert w in lines[0], lines[0]
