"""Run-folder ownership: which folders catlas may replace, and one writer per run folder.

A run folder is catlas's only if catlas marked it when it created it (:data:`MARKER`, holding
the run's identity). ``--overwrite`` replaces a folder only if it is marked, holds nothing but
what catlas writes there (:func:`foreign_entries`), is not the current directory or one above
it, and does not hold the input. The old run is moved aside (a hidden sibling) before the new
one is written and deleted only once the new fit has succeeded or stopped resumably; if the
new fit fails, the old run is put back as it was (:class:`RunClaim`).

A fit or resume holds an exclusive lock on :data:`LOCK` inside the folder for its whole
duration (``fcntl.flock``: released by the OS when the process ends, also on SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import IO

from catlas._version import __version__
from catlas.errors import CatlasError
from catlas.fileio import atomic_write_text
from catlas.runfiles import LOCK, MARKER, OWN

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are then not protected against a second writer
    fcntl = None  # type: ignore[assignment]

def foreign_entries(run_dir: Path, limit: int = 3) -> list[str]:
    """Up to ``limit`` paths under ``run_dir`` (relative) that catlas does not write there."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(run_dir):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(run_dir).as_posix()
            if p.is_symlink() or not any(rx.fullmatch(rel) for rx in OWN):
                found.append(rel + ("/" if name in dirnames else ""))
                if name in dirnames:
                    dirnames.remove(name)  # do not list its contents
                if len(found) >= limit:
                    return found
    return found


def read_marker(run_dir: Path) -> dict | None:
    """The marker's content (a dict with ``run_id``), or None when the folder is not marked."""
    path = run_dir / MARKER
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("run_id"), str) else None


def write_marker(run_dir: Path) -> str:
    """Mark ``run_dir`` as a catlas run; returns the new run id."""
    run_id = uuid.uuid4().hex
    atomic_write_text(run_dir / MARKER, json.dumps({
        "run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(), "catlas": __version__}, indent=2) + "\n")
    return run_id


class RunLock:
    """An exclusive lock on ``run_dir/.catlas.lock`` (creates the lock file)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._fh: IO[str] | None = None

    def acquire(self) -> "RunLock":
        self._fh = open(self.run_dir / LOCK, "a")
        if fcntl is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._fh.close()
                self._fh = None
                raise CatlasError(f"{self.run_dir}: in use by another catlas process (a fit or "
                                  "resume is writing it); wait for it to finish") from None
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor releases the flock
            self._fh = None


def check_out_path(out: Path, inputs: list[Path] | None = None) -> None:
    """Refuse run-folder paths catlas must never write to or replace (nothing is touched)."""
    if str(out).strip() == "":
        raise CatlasError("--out is empty (an unset shell variable?); give the run folder to create")
    if out.is_symlink():
        raise CatlasError(f"{out}: is a symbolic link; give the real folder as --out")
    if out.exists() and not out.is_dir():
        raise CatlasError(f"{out}: exists and is not a folder")
    here = Path.cwd().resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        raise CatlasError(f"{out}: is the current folder or contains it; give a new folder as --out")
    for p in inputs or []:
        src = p.resolve()
        if src == target or target in src.parents:
            raise CatlasError(f"{out}: holds the input {p}; give another folder as --out")


def check_replaceable(out: Path, overwrite: bool) -> bool:
    """Whether ``out`` exists with content that the fit would replace. Raises CatlasError when
    it may not be replaced (without ``overwrite``, unmarked, or holding foreign files)."""
    if not out.exists() or not any(e.name != LOCK for e in out.iterdir()):
        return False
    if not overwrite:
        raise CatlasError(f"{out}: run folder exists; use --resume to continue it or --overwrite "
                          "to replace it")
    if read_marker(out) is None:
        raise CatlasError(f"{out}: not a folder catlas created (no {MARKER}); refusing to replace "
                          "it, delete it yourself or choose another --out")
    foreign = foreign_entries(out)
    if foreign:
        raise CatlasError(f"{out}: holds files catlas did not write ({', '.join(foreign)}); "
                          "refusing to replace it, move them out or choose another --out")
    return True


class RunClaim:
    """Create (or replace) a run folder for a new fit, undone if the fit fails.

    ``begin`` moves an old run aside (a hidden sibling, locked while it is moved), creates the
    folder, locks it and marks it. ``commit`` deletes the old run. ``abort`` removes what this
    fit wrote unless it is resumable (``keep``), and puts the old run back.
    """

    def __init__(self, out: Path, replace: bool, announce: bool = True) -> None:
        self.out, self.replace, self.announce = out, replace, announce
        self.aside: Path | None = None
        self.created: Path | None = None  # the topmost folder this claim created
        self.lock: RunLock | None = None

    def begin(self) -> None:
        out = self.out
        if self.replace:
            old_lock = RunLock(out).acquire()  # refuses while another process writes the old run
            try:
                self.aside = out.parent / f".{out.name}.catlas-replaced-{uuid.uuid4().hex[:8]}"
                os.replace(out, self.aside)
            finally:
                old_lock.release()
            if self.announce:
                print(f"catlas: replacing {out} (the old run stays in {self.aside} until this fit "
                      "ends)", file=sys.stderr)
        missing = [p for p in [out, *out.parents] if not p.exists()]
        out.mkdir(parents=True, exist_ok=True)
        self.created = missing[-1] if missing else None
        try:
            lock = RunLock(out).acquire()
        except BaseException:
            self.created = None  # another process holds it: not ours to delete
            self.abort(keep=False)
            raise
        if any(e.name != LOCK for e in out.iterdir()):  # another fit got here first
            lock.release()
            self.created = None
            self.abort(keep=False)
            raise CatlasError(f"{out}: was written by another catlas process meanwhile; "
                              "choose another --out")
        self.lock = lock
        try:
            write_marker(out)
        except BaseException:
            self.abort(keep=False)
            raise

    def commit(self) -> None:
        """The new run stands (finished, or stopped with a checkpoint): drop the old one."""
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None
        self._unlock()

    def abort(self, keep: bool) -> None:
        """The fit failed: keep its folder if ``keep`` (resumable) and no old run waits,
        else remove what this fit created (the folder, or its content when it existed before),
        then restore the old run."""
        out = self.out
        if keep and self.aside is None:
            self._unlock()
            return
        if self.lock is not None:  # only what this claim locked is ours to clear
            if self.created is not None:
                shutil.rmtree(self.created, ignore_errors=True)
            elif out.is_dir():
                for e in out.iterdir():
                    if e.name != LOCK:
                        shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
                (out / LOCK).unlink(missing_ok=True)
        self._unlock()
        if self.aside is not None:
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
            os.replace(self.aside, out)
            self.aside = None

    def _unlock(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
