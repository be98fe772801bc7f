"""benchmarks/accuracy.py end to end on a tiny budget, and its target rule."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=300)


def test_tiny_benchmark_table_reuse_and_refusal(tmp_path):
    args = ["--sequences", "sheet", "--methods", "mca", "nearest", "--seeds", "0", "1",
            "--preset", "tiny", "--iterations", "5", "--pairs", "20", "--out", str(tmp_path)]
    p = _bench(*args)
    assert p.returncode == 0, p.stderr
    table = (tmp_path / "table.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows] == ["method", "mca", "nearest"]
    assert rows[1].count("+-") == 5 and rows[1].split("|")[6].strip() == "5"  # CD defined; 5 it
    assert rows[2].split("|")[5].strip() == "-"  # nearest has no CD
    assert "Target: mca beats nearest" in table and table in p.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted((r["method"], r["seed"]) for r in results) == [("mca", 0), ("mca", 1), ("nearest", None)]
    for d in ("mca_s0", "mca_s1", "nearest"):
        assert (tmp_path / "sheet" / d / "eval" / "metrics.json").exists()
    # existing folders: refused before anything runs, kept with --reuse
    p = _bench(*args)
    assert p.returncode == 2 and "REFUSED" in p.stdout and "--reuse" in p.stderr
    p = _bench(*args, "--reuse")
    assert p.returncode == 0, p.stderr
    assert "mca seed 1: keep 5 iterations" in p.stdout
    assert (tmp_path / "table.md").read_text() == table


def _load():
    spec = importlib.util.spec_from_file_location("accuracy_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # for its dataclass
    spec.loader.exec_module(mod)
    return mod


def test_target_rule():
    acc = _load()

    def stats(msl2, mr, mauc, std=1.0):
        return {"msL2": (msl2, std), "mr": (mr, std), "mAUC": (mauc, std)}

    rows = {"mca": ("mca", stats(50, 3, 80)), "dsr": ("dsr", stats(60, 6, 70, std=2.0))}
    assert acc.target_lines(rows)[0].endswith("**yes**")
    rows["nearest"] = ("nearest", stats(50.5, 2, 90, std=0.0))  # msL2 within mca' std; better mr, mAUC
    line = acc.target_lines(rows)[0]
    assert "**no**" in line and "msL2 vs nearest" in line and "mAUC vs nearest" in line
    assert "vs dsr" not in line
    assert acc.target_lines({"dsr": rows["dsr"]}) == ["Target: not assessed (no mca row)"]


def test_minutes_budget_times_methods_together(tmp_path):
    """--minutes: every fitted method is timed (interleaved) and gets minutes * 60 / step."""
    p = _bench("--sequences", "sheet", "--methods", "mca", "atlasnet", "nearest", "--seeds", "0",
               "--preset", "tiny", "--minutes", "0.05", "--pairs", "20", "--out", str(tmp_path), "--dry-run")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("budget sheet")]
    assert [ln.split()[2] for ln in lines] == ["mca:", "atlasnet:"]
    for ln in lines:
        ms, iterations = float(ln.split()[3]), int(ln.split("->")[1].split()[0])
        # ms is printed to 0.01 ms: its rounding moves 3 s / step by up to iterations * 0.005 / ms
        assert abs(iterations - 0.05 * 60 / (ms / 1e3)) <= 0.51 + 1.01 * iterations * 0.005 / ms


def test_heading_names_the_budget_each_fit_times_itself():
    import argparse

    acc = _load()

    def heading(**kw):
        base = dict(preset="fast", seeds=[0], pairs=500, device="cpu", set=[], iterations=None, minutes=None)
        return acc.common_text(argparse.Namespace(**{**base, **kw}))

    assert "the preset's iterations" in heading()
    assert "300 iterations" in heading(iterations=300)
    assert "2 training minutes per method" in heading(minutes=2.0)
    text = heading(set=["train.threads=1", "train.minutes=10"])
    assert "10 training minutes per fit, timed by each fit" in text and "preset's iterations" not in text
