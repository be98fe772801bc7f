"""Loss log of a fit: ``losses.csv`` and TensorBoard event files under ``tb/``."""

from __future__ import annotations

import csv
from pathlib import Path

from catlas.fileio import atomic_write_text


class LossLog:
    """Appends rows ``iteration, seconds, lr, <terms...>``; on resume, drops rows after ``start``."""

    def __init__(self, run_dir: Path, start: int, tensorboard: bool = True) -> None:
        self.path = run_dir / "losses.csv"
        self.columns: list[str] | None = None
        if self.path.exists():
            with self.path.open(newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                self.columns = rows[0]
                kept = [r for r in rows[1:] if r and int(r[0]) <= start]
                text = "".join(",".join(r) + "\n" for r in [rows[0], *kept])
                atomic_write_text(self.path, text)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start else None)

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
