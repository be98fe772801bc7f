"""Writing and reading evaluation results: metrics.json, per-pair CSV, PCK plot, comparisons."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from catlas.errors import CatlasError
from catlas.evaluate.metrics import CONVENTIONS, PRINT_SCALE, PRINT_UNITS
from catlas.evaluate.protocol import METRICS, EvalResult
from catlas.config import FitConfig
from catlas.fileio import atomic_path, atomic_write_text
from catlas.runfiles import CONFIG, EVAL_DIR, METRICS_FILE, OFFSET_PLOT_FILE, PAIRS_FILE, PLOT_FILE, SUMMARY

__all__ = ["EVAL_DIR", "METRICS_FILE", "PAIRS_FILE", "PLOT_FILE", "OFFSET_PLOT_FILE", "write_eval", "format_table",
           "read_metrics", "compare_rows", "summary_row", "format_compare"]



def write_eval(run_dir: Path, result: EvalResult, overwrite: bool = False) -> Path:
    """Write RUN_DIR/eval/{metrics.json, pairs.csv, pck.png, by_offset.png}; refuse to replace
    without overwrite."""
    out = Path(run_dir) / EVAL_DIR
    if (out / METRICS_FILE).exists() and not overwrite:
        raise CatlasError(f"{out / METRICS_FILE}: evaluation exists; use --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    _write_pairs(out / PAIRS_FILE, result)
    _plot_pck(out / PLOT_FILE, result)
    _plot_by_offset(out / OFFSET_PLOT_FILE, result)
    text = json.dumps(_json_safe(result.summary), indent=2, allow_nan=False)
    atomic_write_text(out / METRICS_FILE, text + "\n")
    return out


def _json_safe(obj):
    """NaN / inf (e.g. CD of the nearest baseline) -> null, so strict JSON readers accept it."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _write_pairs(path: Path, res: EvalResult) -> None:
    """One row per pair, values in printed units (msL2/CD x1e3, mr/mAUC %)."""
    pp = res.per_pair
    cols = [("msL2_code", "msL2"), ("msL2_paper", "msL2"), ("mr", "mr"), ("mAUC_code", "mAUC"),
            ("mAUC_paper", "mAUC"), ("CD", "CD")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["pair", "frame_a", "frame_b", *(f"{c} ({PRINT_UNITS[m]})" for c, m in cols),
                "kept_patches", "uv_per_patch"])
    for n, (a, b) in enumerate(res.pairs):
        w.writerow([n, int(a), int(b), *(f"{pp[c][n] * PRINT_SCALE[m]:.6g}" for c, m in cols),
                    int(pp["kept"][n]), int(pp["m"][n])])
    atomic_write_text(path, buf.getvalue())


def _plot_pck(path: Path, res: EvalResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    conv = res.summary.get("conventions", {})
    labels = {"code": "code: d$^2$ <= t", "paper": "paper: d <= t"}
    for ax, c in zip(axes, CONVENTIONS):
        auc = conv.get(c, {}).get("mAUC", {}).get("mean", float("nan"))
        ax.plot(res.thresholds, res.pck[c] * 100.0, lw=1.8)
        ax.set_title(f"{labels[c]}  (mAUC {auc:.2f}%)", fontsize=10)
        ax.set_xlabel("threshold t (" + ("squared " if c == "code" else "") + "normalised units)")
        ax.set_ylabel("PCK (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{len(res.pairs)} pairs", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def error_by_offset(res: EvalResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame offset |A - B| present among the pairs: (offsets (O,), pair counts (O,),
    mean msL2 (code convention, x1e3) (O,), mean mr (%) (O,))."""
    off = np.abs(res.pairs[:, 0] - res.pairs[:, 1])
    offsets, inverse, counts = np.unique(off, return_inverse=True, return_counts=True)
    msl2 = np.bincount(inverse, res.per_pair["msL2_code"]) / counts * PRINT_SCALE["msL2"]
    mr = np.bincount(inverse, res.per_pair["mr"]) / counts * PRINT_SCALE["mr"]
    return offsets, counts, msl2, mr


def _plot_by_offset(path: Path, res: EvalResult) -> None:
    """Correspondence error against the time between the two frames: a temporally-coherent
    atlas should not degrade with the offset; swapped limbs show up as a hump."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offsets, counts, msl2, mr = error_by_offset(res)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(offsets, msl2, "o-", lw=1.5, ms=3, label="msL2 (x1e3, code)")
    ax.set_xlabel("frame offset |A - B|")
    ax.set_ylabel("msL2 (x1e3)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(offsets, mr, "s--", lw=1.0, ms=3, color="tab:orange", label="mr (%)")
    ax2.set_ylabel("mr (%)")
    ax.set_title(f"error by frame offset ({len(res.pairs)} pairs, "
                 f"{counts.min()}-{counts.max()} per offset)", fontsize=10)
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def format_table(summary: dict) -> str:
    """Header + one row per convention (code first), printed units."""
    head = "convention  " + "  ".join(f"{m} ({PRINT_UNITS[m]})".rjust(12) for m in METRICS)
    rows = [head]
    for c in CONVENTIONS:
        v = summary["conventions"][c]
        rows.append(f"{c:<10}  " + "  ".join(f"{v[m]['mean']:12.4f}" for m in METRICS))
    return "\n".join(rows)


def read_metrics(run_dir: Path) -> dict | None:
    """RUN_DIR/eval/metrics.json, or None when the run has not been evaluated."""
    p = Path(run_dir) / EVAL_DIR / METRICS_FILE
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise CatlasError(f"{p}: unreadable metrics file ({e})") from None


def compare_rows(run_dirs: list[Path], convention: str = "code") -> list[dict]:
    """One dict per run: name, method, the four metrics (printed units; None if not evaluated)
    and fit wall time (summary.json ``train_seconds``; None if absent)."""
    rows = []
    for d in map(Path, run_dirs):
        if not (d / CONFIG).exists():
            raise CatlasError(f"{d}: not a catlas run folder (no {CONFIG})")
        try:
            method = FitConfig.load(d / CONFIG).loss.method
        except (OSError, ValueError) as e:
            raise CatlasError(f"{d / CONFIG}: unreadable ({e})") from None
        m = read_metrics(d)
        row = summary_row(d.name, method, m, convention)
        train = None
        if (d / SUMMARY).exists():
            try:
                train = json.loads((d / SUMMARY).read_text()).get("train_seconds")
            except ValueError:
                train = None
        row["fit_s"] = train
        rows.append(row)
    return rows


def summary_row(name: str, method: str | None, summary: dict | None, convention: str = "code",
                fit_s: float | None = None) -> dict:
    """A :func:`format_compare` row from an evaluation summary (metrics.json; None: not
    evaluated). method None: a baseline, printed by name only."""
    row = {"run": name, "method": method}
    for k in METRICS:
        row[k] = None if summary is None else summary["conventions"][convention][k]["mean"]
    row["fit_s"] = fit_s
    return row


def format_compare(rows: list[dict], convention: str = "code") -> str:
    """Rows = runs (method), columns msL2, mr, mAUC, CD, fit time; '-' where unknown or NaN."""
    def label(r: dict) -> str:
        return r["run"] if r["method"] is None else f"{r['run']} ({r['method']})"

    name_w = max([len(label(r)) for r in rows] + [10])
    cols = [f"{m} ({PRINT_UNITS[m]})" for m in METRICS] + ["fit (s)"]
    out = [f"{'run (method)':<{name_w}}  " + "  ".join(c.rjust(12) for c in cols)
           + f"   [{convention} convention]"]
    for r in rows:
        vals = [r[m] for m in METRICS] + [r["fit_s"]]
        cells = ["-".rjust(12) if v is None or v != v else f"{v:12.4f}" if i < 4 else f"{v:12.1f}"
                 for i, v in enumerate(vals)]
        out.append(f"{label(r):<{name_w}}  " + "  ".join(cells))
    return "\n".join(out)
