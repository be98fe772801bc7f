"""benchmarks/time_to_quality.py end to end on the tiny preset (a few seconds)."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_quality.py"


def _load():
    spec = importlib.util.spec_from_file_location("time_to_quality_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # for its dataclass
    spec.loader.exec_module(mod)
    return mod


def test_tiny_time_to_quality(tmp_path, capsys):
    ttq = _load()
    args = ["--sequences", "sheet", "--preset", "tiny", "--iterations", "20", "--snapshots", "2",
            "--pairs", "10", "--seeds", "0", "--methods", "mca", "--out", str(tmp_path)]
    assert ttq.main(args) == 0
    with (tmp_path / "curves.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [10, 20]
    for r in rows:
        assert (r["sequence"], r["method"], r["seed"]) == ("sheet", "mca", "0")
        assert (r["iterations"], r["jobs"], r["threads"]) == ("20", "1", "2")
        assert all(math.isfinite(float(r[k])) for k in ("seconds", "msL2", "mr", "mAUC", "CD"))
    assert 0 < float(rows[0]["seconds"]) <= float(rows[1]["seconds"])
    assert (tmp_path / "curves_sheet.png").stat().st_size > 0
    table = (tmp_path / "table.md").read_text()
    assert table in capsys.readouterr().out
    for head in ("msL2 <= 40", "msL2 <= 12", "CD <= 1", "CD <= 0.3"):
        assert head in table
    assert "| nearest |" in table and "| mca |" in table
    assert ttq.main(args) == 2  # the run folder exists: refused before anything runs
