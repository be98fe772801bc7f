"""Loss log of a fit: ``losses.csv`` and TensorBoard event files under ``tb/``."""

from __future__ import annotations

import csv
from pathlib import Path

from catlas.errors import CatlasError
from catlas.fileio import atomic_write_text
from catlas.runfiles import LOSSES, TB_DIR


def read_loss_rows(path: Path) -> list[list[str]]:
    """The rows of a loss log (header first; empty rows dropped); CatlasError naming the file
    and the row when it is not one catlas wrote (a resume appends to it)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CatlasError(f"{path}: unreadable loss log ({e}); move it away to resume") from None
    if rows and rows[0][:1] != ["iteration"]:
        raise CatlasError(f"{path}: not a catlas loss log (first row {','.join(rows[0])[:60]!r}); "
                          "move it away to resume")
    for n, r in enumerate(rows[1:], 2):
        if len(r) != len(rows[0]) or not r[0].isdigit():
            raise CatlasError(f"{path}: row {n} is garbled ({','.join(r)[:60]!r}); fix the file "
                              "or move it away to resume")
    return rows


def check_loss_log(run_dir: Path) -> None:
    """Raise CatlasError if the run's loss log exists and cannot be continued."""
    if (run_dir / LOSSES).exists():
        read_loss_rows(run_dir / LOSSES)


class LossLog:
    """Appends rows ``iteration, seconds, lr, <terms...>``; on resume, drops rows after ``start``."""

    def __init__(self, run_dir: Path, start: int, tensorboard: bool = True) -> None:
        self.path = run_dir / LOSSES
        self.columns: list[str] | None = None
        if self.path.exists():
            rows = read_loss_rows(self.path)
            if rows:
                self.columns = rows[0]
                kept = [r for r in rows[1:] if r and int(r[0]) <= start]
                text = "".join(",".join(r) + "\n" for r in [rows[0], *kept])
                atomic_write_text(self.path, text)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / TB_DIR), purge_step=start + 1 if start else None)

    def write(self, iteration: int, seconds: float, lr: float, terms: dict[str, float]) -> None:
        row = {"iteration": iteration, "seconds": round(seconds, 3), "lr": lr, **terms}
        new = self.columns is None
        if new:
            self.columns = list(row)
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(self.columns)
            w.writerow([_fmt(row.get(c, "")) for c in self.columns])
        if self.writer is not None:
            for k, v in terms.items():
                self.writer.add_scalar(f"loss/{k}", v, iteration)
            self.writer.add_scalar("train/lr", lr, iteration)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _fmt(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
