"""Per-item work split over the processes of a torch.distributed group, gathered back in item order.

    values = spread(batches, score, n)   # batches: lists of item indices; score(batch) -> one value per index

Whole batches are dealt round-robin (batch b to process b mod world size), so every item is computed in the same
batch, with the same padding, as on one process: the gathered values are bit-identical to a single process's
(on the same kind of CPU/GPU). Every process receives every value. Without an initialised process group, or with
one process, everything runs here. Used by the reference cache (engine/forward.py), by evaluation (eval/) and by
the audit's scoring and generation. Each process must call `spread` the same number of times, in the same order
(it is a collective).

    result = alone(fn, *args)            # fn runs on the first process only; every process gets its result

`alone` is for work that is not per item (the relearning attack fine-tunes a copy): inside it the first process
sees a world of one (`world()` is (0, 1): no collective, the engine trains without DDP), the others wait.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_alone = False  # True while `alone` runs a block on the first process


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1); (0, 1) inside `alone`."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and not _alone:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_alone() -> bool:
    """True inside `alone` while a process group exists: this process must not join any collective."""
    return _alone


def alone(fn: Callable[..., Any], *args) -> Any:
    """fn(*args) on the first process only, as if it were the only one; every process returns its result (sent by
    a broadcast, so it must pickle). The others wait in that broadcast, which the process group's timeout bounds
    (30 min by default under accelerate). An exception on the first process is raised on every process."""
    global _alone
    rank, size = world()
    if size == 1:
        return fn(*args)
    import torch.distributed as dist

    box: list[Any] = [None]
    if rank == 0:
        _alone = True
        try:
            box = [("ok", fn(*args))]
        except Exception as e:  # the others must not wait forever: they get the error and raise too
            box = [("error", f"{type(e).__name__}: {e}")]
            dist.broadcast_object_list(box, src=0)
            raise
        finally:
            _alone = False
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if status == "error":
        raise RuntimeError(f"the first process failed in a block it ran alone: {value}")
    return value


def join():
    """Under torchrun / accelerate launch (WORLD_SIZE > 1): join the process group (gloo on CPU, nccl on GPUs, one
    GPU per process) through accelerate; returns (rank, world size, device). Alone: (0, 1, None)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state.process_index, state.num_processes, state.device


def in_lockstep(model) -> bool:
    """True for a model whose forward is itself a collective (FSDP2: DTensor parameters; DeepSpeed ZeRO-3:
    partitioned parameters, marked with `ds_id`): every process must then run every batch, so such a model is
    scored whole on each process instead of spread."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) or hasattr(p, "ds_id") for p in model.parameters())


def spread(batches: Sequence[Sequence[int]], score: Callable[[list[int]], list[Any]], n: int,
           model=None) -> list[Any]:
    """[value of item 0, ..., value of item n-1]; each index in `batches` exactly once (else ValueError).
    `model`: the model `score` runs; one in lockstep (sharded) is run on every batch by every process."""
    rank, size = world()
    if model is not None and size > 1 and in_lockstep(model):
        rank, size = 0, 1
    mine = []
    for b, batch in enumerate(batches):
        if b % size == rank:
            values = score(list(batch))
            if len(values) != len(batch):
                raise ValueError(f"spread: score returned {len(values)} values for a batch of {len(batch)}")
            mine.extend(zip(batch, values, strict=True))
    parts = [mine]
    if size > 1:  # every process gets every (index, value) pair
        import torch.distributed as dist

        parts = [None] * size
        dist.all_gather_object(parts, mine)
    out: list[Any] = [None] * n
    seen = 0
    for part in parts:
        for i, value in part:
            out[i] = value
            seen += 1
    if seen != n:
        raise ValueError(f"spread: the batches cover {seen} items, expected each of {n} exactly once")
    return out
