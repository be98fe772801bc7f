"""Helpers of the fault suite: run the CLI in this process, check the one-line error and the
files before and after."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def tree(root: str | Path) -> dict[str, str]:
    """Every entry under ``root`` (itself excluded): relative path -> "dir", "link -> TARGET" or
    the file's SHA-256. Compare two calls to see that nothing changed."""
    root = Path(root)
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(*argv: str, cwd: str | Path | None = None) -> tuple[int, str, str]:
    """``catlas ARGV`` in this process -> (exit code, stdout, stderr). An exception that the CLI
    does not turn into a message propagates (so a traceback fails the test)."""
    from catlas.cli import main

    old = os.getcwd()
    err, out = io.StringIO(), io.StringIO()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stderr(err), redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("always")
            # as on the command line (pytest records warnings instead of printing them)
            warnings.showwarning = lambda msg, cat, fn, ln, file=None, line=None: sys.stderr.write(
                warnings.formatwarning(msg, cat, fn, ln, line))
            try:
                code = main([str(a) for a in argv])
            except SystemExit as e:  # argparse errors
                code = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, stderr: str, *needles: str, exit_code: int = 2) -> str:
    """The command failed with ``exit_code`` and printed exactly one line, ``catlas: error: ...``
    (argparse's usage errors: ``catlas ...: error: ...`` after the usage lines), containing
    every needle. Returns the line."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert code == exit_code, (code, stderr)
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, stderr
    if not errors[0].startswith("catlas: error:"):  # argparse: usage lines, then one error line
        assert errors[0] == lines[-1] and all(ln.startswith(("usage:", " ")) for ln in lines[:-1]), stderr
    else:
        assert len(lines) == 1, stderr
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]
