"""Test fault injection: this process sends itself a signal right after training step N of a fit,
to test resuming after a hard kill or a Ctrl-C deterministically.

In the test process: ``monkeypatch.setattr(loop, "training_step", signal_after(loop.training_step,
"INT:10"))``. In a subprocess (also one rank of torchrun): run this file in place of
``python -m catlas`` with ``CATLAS_TEST_SIGNAL_AT=KILL:13`` (or INT, TERM) in the environment::

    python tests/_signal_at.py fit DATA --out RUN ...
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Callable

SCRIPT = str(Path(__file__).resolve())
ENV = "CATLAS_TEST_SIGNAL_AT"


def signal_after(step: Callable, spec: str) -> Callable:
    """``step`` (catlas.train.loop.training_step), sending the signal ``spec`` = "NAME:N" once the
    fit's step N is done. Only the fit loop's steps count (not the step timer's): the signal goes
    when a call from ``catlas.train.loop.train`` starts at iteration N - 1 and returns (the loop
    then counts the step and, on INT / TERM, checkpoints before the next one)."""
    name, _, at = spec.partition(":")
    signum, at = getattr(signal, f"SIG{name}"), int(at)

    def step_then_signal(state, *args, **kwargs):
        caller = sys._getframe(1).f_code
        terms = step(state, *args, **kwargs)
        if caller.co_name == "train" and caller.co_filename.endswith(os.path.join("train", "loop.py")) \
                and state.iteration + 1 == at:
            os.kill(os.getpid(), signum)
        return terms

    return step_then_signal


def main() -> int:
    from catlas.cli import main as cli_main
    from catlas.train import loop

    spec = os.environ.get(ENV)
    if spec:
        loop.training_step = signal_after(loop.training_step, spec)
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
