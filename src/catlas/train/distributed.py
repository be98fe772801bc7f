"""Data-parallel fits under ``torchrun``: one global batch, each process takes its share of pairs.

``torchrun --nproc_per_node N -m catlas fit ...`` starts N processes that all run the same
fit. Every process owns the same generator (same seed, same state), so all of them draw the
*same* global batch of ``train.pairs_per_step`` pairs, point subsets and UV samples; process
r then decodes only pairs ``[r * p, (r + 1) * p)`` with ``p = pairs_per_step / N``.

Why the gradient equals the single-process one: the Chamfer and metric-consistency losses are
plain means over the batch with the same number of terms per frame/pair, so the full-batch
loss is exactly the mean of the N per-process losses, and DDP's gradient average (all-reduce
sum / N) is its gradient. The cross-pair metric term (loss.alpha_mc_cross) compares frames of
different pairs, so each process computes it on the whole batch's metric tensors, gathered with
autograd (:meth:`DataParallel.gather`): the same value on every process, and a gradient whose
DDP average is the single-process one. Only float rounding differs (summation order). Logged losses are
all-reduced the same way at log steps only (no extra per-step sync).

``dsr`` is refused: its E/G terms use means over the whole batch (E_bar, G_bar), which are not
decomposable per process without an autograd all-reduce inside the loss.

Files are written by rank 0 only (run folder, config, sequence, checkpoints, loss log, meshes,
summary); the other ranks wait at a collective that also carries rank 0's success, so an error
on rank 0 stops every rank instead of leaving them at a barrier. On resume all ranks load the
same checkpoint. A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) never touches any of
this: :func:`init_from_env` returns None and the training loop is unchanged.
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from catlas.config import FitConfig
from catlas.errors import CatlasError

T = TypeVar("T")

__all__ = ["DataParallel", "frame_shard", "init_from_env", "on_main", "stop_agreed", "world_size_from_env"]


def world_size_from_env() -> int:
    """WORLD_SIZE as set by torchrun (1 when absent)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise CatlasError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


class DataParallel:
    """This process' place in a data-parallel fit (rank, world size) and the collectives it uses."""

    def __init__(self, rank: int, world_size: int, local_rank: int) -> None:
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.ddp: nn.Module | None = None  # the DDP wrapper of the model, after attach()
        self.shard: slice = slice(None)  # this rank's frames of the global batch, after attach()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- setup -----------------------------------------------------------------------------

    def check_config(self, cfg: FitConfig) -> None:
        """Refuse settings that cannot be split exactly over the processes."""
        if cfg.loss.method == "dsr":
            raise CatlasError("method dsr is not supported data-parallel (its E/G terms use "
                              "batch-wide means); run it in a single process")
        if cfg.train.pairs_per_step % self.world_size:
            raise CatlasError(f"train.pairs_per_step={cfg.train.pairs_per_step} must be divisible by "
                              f"the number of processes ({self.world_size})")

    def device(self, device: torch.device) -> torch.device:
        """A bare ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per process)."""
        if device.type == "cuda":
            if device.index is None:
                device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def attach(self, state, cfg: FitConfig) -> None:
        """Wrap the state's model in DDP and give the training loop this rank's slice of frames."""
        from torch.nn.parallel import DistributedDataParallel

        self.check_config(cfg)
        model = state.model
        device = next(model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        self.ddp = DistributedDataParallel(model, device_ids=ids)  # same seed: same init anyway
        self.shard = frame_shard(cfg.train.pairs_per_step, self.rank, self.world_size)
        state.parallel = self

    # -- collectives -----------------------------------------------------------------------

    def mean_terms(self, window: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean over ranks of each (summed) loss term: one all-reduce for all of them."""
        if not window:
            return window
        keys = list(window)
        flat = torch.stack([torch.as_tensor(window[k]).float() for k in keys])
        dist.all_reduce(flat)
        flat /= self.world_size
        return dict(zip(keys, flat.unbind()))

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """The whole batch (B, ...) from this rank's share (B / world_size, ...), in rank order
        (the shards are contiguous, so this is the single-process layout). Differentiable: the
        backward sums every rank's gradient of its copy into the share, so after DDP's average
        the gradient is the single-process one."""
        return _GatherWithGrad.apply(t, self.rank, self.world_size)

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (CPU/gloo collective)."""
        # gloo (or the cpu: half of "cpu:gloo,cuda:nccl") takes host tensors; pure NCCL needs CUDA
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def stop_requested(self, local: Callable[[], bool], iteration: int, every: int) -> bool:
        """Ctrl-C / SIGTERM agreed on by all ranks, checked every ``every`` steps (one small
        sync there, not one per step), so all ranks stop at the same iteration."""
        if iteration % max(every, 1):
            return False
        return self.any(local())


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 whose backward sums the ranks' gradients of the whole batch
    (all-reduce) and keeps this rank's rows: plain all_gather and all_reduce only, which gloo
    and NCCL both have."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:  # noqa: D102
        ctx.rank, ctx.rows = rank, t.shape[0]
        parts = [torch.empty_like(t) for _ in range(world_size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        grad = grad.clone(memory_format=torch.contiguous_format)  # all_reduce works in place
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows], None, None


def frame_shard(pairs_per_step: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s frames of a batch laid out [i1, j1, i2, j2, ...]: whole pairs only."""
    per_rank = 2 * (pairs_per_step // world_size)
    return slice(rank * per_rank, (rank + 1) * per_rank)


def stop_agreed(par: DataParallel | None, local: Callable[[], bool], iteration: int, every: int) -> bool:
    """The training loop's stop point, before each step: Ctrl-C / SIGTERM (``local()``) in a
    single process; under torchrun, agreed on by all ranks every ``every`` steps
    (:meth:`DataParallel.stop_requested`), so that all stop at the same iteration."""
    return local() if par is None else par.stop_requested(local, iteration, every)


def on_main(par: DataParallel | None, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only; the other ranks wait for it. An exception on rank 0 is
    re-raised there and turns into a CatlasError on the others (no rank is left waiting)."""
    if par is None:
        return fn()
    result, error = None, None
    if par.is_main:
        try:
            result = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after telling the others
            error = e
    if par.any(error is not None):
        if error is not None:
            raise error
        raise CatlasError(f"rank {par.rank}: stopping because rank 0 failed (see its error)")
    return result


def init_from_env() -> DataParallel | None:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or None for a single process.

    Backend: gloo on CPU; with CUDA, ``cpu:gloo,cuda:nccl`` so host flags use gloo and the
    gradients NCCL. Non-zero ranks are silenced (stdout to /dev/null, warnings off): logs,
    progress and messages come from rank 0 only.
    """
    world = world_size_from_env()
    if world <= 1:
        return None
    if not dist.is_available():
        raise CatlasError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo")
        atexit.register(_destroy)
    if dist.get_world_size() != world:
        raise CatlasError(f"WORLD_SIZE={world} but the process group has {dist.get_world_size()} ranks")
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        warnings.simplefilter("ignore")
    return DataParallel(rank, world, local_rank)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
