"""Device resolution: the ``device`` setting ('auto', 'cpu', 'cuda', 'cuda:N') -> a torch device."""

from __future__ import annotations

import torch

from catlas.errors import CatlasError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as given, if this machine has it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise CatlasError(f"unknown device {name!r} ({str(e).splitlines()[0]}); "
                          "use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CatlasError(f"device {name!r}: this PyTorch build or machine has no CUDA GPU; "
                              "use cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CatlasError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                              "CUDA GPU(s)")
    elif dev.type != "cpu":
        raise CatlasError(f"device {name!r}: catlas runs on cpu or cuda")
    return dev
