"""benchmarks/robustness.py end to end on the tiny preset (two fits of a few seconds), its
degradation names, and its nearest map on point clouds."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from catlas.config import FitConfig
from catlas.errors import CatlasError
from catlas.evaluate import nearest_vertex_map

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "robustness.py"


def _load():
    spec = importlib.util.spec_from_file_location("robustness_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # for its dataclasses
    spec.loader.exec_module(mod)
    return mod


def _csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _cells(table: str, section: str, *first: str) -> list[str]:
    """The cells of the row that starts with the cells ``first`` in a table section."""
    body = table.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0]
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[:len(first)] == list(first):
            return cells
    raise AssertionError(f"no row {first} in {section}")


def test_tiny_robustness_rows_table_refusal_and_reuse(tmp_path, capsys):
    rob = _load()
    args = ["--sequences", "creature", "--frames", "4", "--degradations", "clean", "noise1",
            "--methods", "mca", "--remedies", "center", "--seeds", "0", "--preset", "tiny",
            "--iterations", "5", "--pairs", "5", "--out", str(tmp_path)]
    assert rob.main(args) == 0
    out = capsys.readouterr().out

    rows = _csv(tmp_path / "results.csv")
    assert [(r["sequence"], r["degradation"], r["method"], r["remedy"], r["seed"]) for r in rows] == [
        ("creature", "clean", "mca", "center", "0"), ("creature", "noise1", "mca", "center", "0")]
    for r in rows:
        assert (r["steps"], r["jobs"], r["threads"], r["concurrent"], r["pairs"]) == ("5", "1", "2", "1", "5")
        assert all(math.isfinite(float(r[k])) for k in ("msL2", "mr", "mAUC", "CD", "seconds"))
        run = Path(r["run"])
        assert FitConfig.load(run / "config.yaml").data.center_frames is True  # the remedy
        assert json.loads((run / "eval" / "metrics.json").read_text())["settings"]["pairs"] == 5
    assert Path(rows[1]["run"]) == tmp_path / "creature" / "noise1" / "mca_s0_center"
    info = json.loads((tmp_path / "data" / "creature" / "noise1" / "degrade.json").read_text())
    assert (info["kind"], info["level"], info["seed"], info["points_per_frame"]) == ("noise", 0.01, 0, 400)

    near = _csv(tmp_path / "nearest.csv")
    assert [(r["degradation"], r["remedy"], r["input"]) for r in near] == [
        ("clean", "center", "meshes"), ("noise1", "center", "clouds")]
    assert all(r["CD"] == "" and math.isfinite(float(r["msL2"])) for r in near)

    table = (tmp_path / "table.md").read_text()
    assert table in out and "### creature\n" in table and "- fits: fits alone (2 threads each)" in table
    heads = _cells(table, "creature", "data", "method", "remedy")
    assert heads[3:6] == ["msL2", "clean", "%"]
    mca = _cells(table, "creature", "noise1", "mca", "center")
    msl2, clean = float(rows[1]["msL2"]), float(rows[0]["msL2"])
    assert mca[3:6] == [f"{msl2:.2f} +- 0.00", f"{clean:.2f}", f"{100 * msl2 / clean:.0f} %"]
    assert _cells(table, "creature", "clean", "mca", "center")[3:6] == [f"{clean:.2f} +- 0.00", f"{clean:.2f}", "100 %"]
    assert mca[heads.index("nearest msL2")] == f"{float(near[1]['msL2']):.2f}"
    assert mca[heads.index("steps")] == "5"
    nrow = _cells(table, "creature", "noise1", "nearest", "center (clouds)")
    assert nrow[3:5] == [f"{float(near[1]['msL2']):.2f}", f"{float(near[0]['msL2']):.2f}"]

    # existing run folders: refused before anything runs
    stamp = {p: p.stat().st_mtime_ns for r in rows for p in (Path(r["run"]) / "summary.json",
                                                              Path(r["run"]) / "eval" / "metrics.json")}
    assert rob.main(args) == 2
    captured = capsys.readouterr()
    assert "REFUSED" in captured.out and "--reuse" in captured.err
    # --reuse: kept, neither refitted nor evaluated again; the same table
    assert rob.main(args + ["--reuse"]) == 0
    out = capsys.readouterr().out
    assert out.count(": keep 5 iterations") == 2 and "started" not in out
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert (tmp_path / "table.md").read_text() == table
    assert _csv(tmp_path / "results.csv") == rows
    # --table-only: the table of the rows there, one degradation only; nothing fitted or scored
    assert rob.main(args[:5] + ["noise1"] + args[7:] + ["--table-only"]) == 0
    out = capsys.readouterr().out
    assert "started" not in out and "keep" not in out
    only = (tmp_path / "table.md").read_text()
    assert "\n| clean |" not in only and "\n| noise1 | mca | center |" in only
    assert only == "\n".join(line for line in table.splitlines()
                             if not line.startswith(("| clean |", "- clean:"))) + "\n"
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert _csv(tmp_path / "results.csv") == rows
    assert rob.main(args + ["--table-only", "--metrics", "msL2"]) == 0
    capsys.readouterr()
    assert _cells((tmp_path / "table.md").read_text(), "creature", "data", "method", "remedy")[3:] == [
        "msL2", "clean", "%", "nearest msL2", "steps", "train s"]


def test_degradation_names():
    rob = _load()
    assert rob.degradation_level("clean") == (None, None)
    assert rob.degradation_level("noise0.5") == ("noise", 0.005)
    assert rob.degradation_level("noise1") == ("noise", 0.01)
    assert rob.degradation_level("outliers") == ("outliers", 0.02)
    assert rob.degradation_level("holes") == ("holes", 0.3)
    assert rob.degradation_level("motion") == ("motion", 5.14)
    assert rob.degradation_level("partial") == ("partial", None)
    for bad in ("partial3", "noise200", "blur", "holes100"):
        with pytest.raises(CatlasError):
            rob.degradation_level(bad)
    assert rob.remedy_overrides("center+ssc", 4) == {
        "data": {"center_frames": True}, "loss": {"alpha_ssc": 0.1, "ssc_copies": 4}}
    assert rob.remedy_overrides("trim", 4) == {"loss": {"input_trim": 0.05}}
    assert rob.remedy_overrides("surface_trim", 4) == {"loss": {"surface_trim": 0.3}}
    assert rob.data_remedy("ssc") == "none" and rob.data_remedy("center+ssc") == "center"
    assert rob.remedy_overrides("align+ssc", 4) == {
        "data": {"align_frames": True}, "loss": {"alpha_ssc": 0.1, "ssc_copies": 4}}
    assert rob.data_remedy("align+ssc") == "align"


def test_cloud_nearest_map_on_the_vertices_is_the_vertex_map():
    """With the GT vertices themselves as the clouds, the chain through the clouds is the
    nearest-vertex map; with fewer points it goes through them."""
    from scipy.spatial import cKDTree

    rob = _load()
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 50, 3))
    pair_map = rob.cloud_nearest_map(gt, list(gt))
    for a, b in ((0, 1), (2, 0)):
        assert np.array_equal(pair_map(a, b, cKDTree(gt[b])), nearest_vertex_map(gt[a], gt[b]))
    clouds = [gt[0][:1], gt[1][:1], gt[2]]  # one point each in frames 0 and 1: all map to it
    assert (rob.cloud_nearest_map(gt, clouds)(0, 1, cKDTree(gt[1])) == 0).all()
