"""The CPU thread count a fit runs with (``train.threads``), set for a block and restored after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch

from catlas.config import FitConfig
from catlas.errors import CatlasError


@contextlib.contextmanager
def fit_threads(cfgs: Iterable[FitConfig]) -> Iterator[int]:
    """Run the body with the thread count a fit of these configurations uses (``train.threads``;
    0 keeps torch's), restoring the count afterwards, also when the body fails.

    Configurations with different counts cannot be timed against each other: CatlasError.
    Yields the thread count in effect.
    """
    threads = {c.train.threads for c in cfgs}
    if len(threads) > 1:
        raise CatlasError(f"configurations with different train.threads ({sorted(threads)}) cannot be "
                          "timed together; time one thread count at a time")
    before = torch.get_num_threads()
    n_threads = threads.pop() if threads else 0
    if n_threads > 0:
        torch.set_num_threads(n_threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
