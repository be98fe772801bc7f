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


SHIFTS = ((0.0, 0.0, 0.0), (3.0, -1.0, 2.0), (-4.0, 2.0, 5.0), (8.0, 0.0, -3.0), (1.0, 9.0, 1.0),
          (-6.0, -6.0, -6.0))
"""Frame k of the moving creature is the walking creature's frame k moved by SHIFTS[k] (several
times its size: about 1)."""


def centred_runs(tmp_root: Path) -> dict:
    """Two tiny fits with data.center_frames: the 6-frame walking creature in place ("still")
    and moved by a different vector per frame (:data:`SHIFTS`, "moving"); made once per process.
    Their training data are the same in normalised units, so the fits are too (bit for bit), and
    every output of "moving" in input units is "still"'s moved by its frame's shift. Returns the
    run folders, the input folders and the shifts (K, 3)."""
    if "centred" not in _CACHE:
        import numpy as np
        import trimesh

        import catlas
        from catlas.data import make_walking_creature

        V, F = make_walking_creature(len(SHIFTS))
        shifts = np.array(SHIFTS)
        out = {"shifts": shifts}
        for name, moved in (("still", 0 * shifts), ("moving", shifts)):
            frames = tmp_root / f"centred_{name}_frames"
            frames.mkdir(parents=True, exist_ok=True)
            for k, v in enumerate(V):
                trimesh.Trimesh(v.astype(np.float64) + moved[k], F, process=False).export(frames / f"f{k}.obj")
            run = tmp_root / f"centred_{name}_run"
            catlas.fit(frames, run, preset="tiny", progress=False,
                       overrides={"device": "cpu", "data": {"center_frames": True},
                                  "train": {"iterations": 20}})
            out[name], out[f"{name}_frames"] = run, frames
        _CACHE["centred"] = out
    return _CACHE["centred"]
