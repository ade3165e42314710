"""The engine's accelerator, and its stand-in for one process inside a larger process group.

    acc = accelerator(cpu=True)   # accelerate's Accelerator; inside `models.spread.alone`: OneProcess

`alone` runs a block (the relearning attack's fine-tuning) on the first process of a torchrun / accelerate launch
group while the others wait. accelerate cannot train on one process of an initialised group: its state is
process-wide, and `prepare` would wrap the model in DDP, whose construction is a collective the waiting processes
never join. `OneProcess` does what `Accelerator` does in a single process on CPU (no wrapper, loss divided by 1,
reduce = copy, the same clipping arithmetic), so a run inside `alone` gives the numbers of a single-process run.
No mixed precision, no gradient accumulation plugin: the loop uses neither.
"""
from __future__ import annotations

import contextlib

import torch


def accelerator(cpu: bool):
    """Accelerator(cpu=...) (cpu also when there is no CUDA: that is what makes accelerate join a torchrun/gloo
    group); OneProcess when the caller runs alone inside a group."""
    from obliviate.models.spread import is_alone

    if is_alone():
        return OneProcess(torch.device("cpu") if cpu or not torch.cuda.is_available() else _own_gpu())
    import os

    from accelerate import Accelerator

    # accelerate launch with a DeepSpeed config sets ACCELERATE_USE_DEEPSPEED; cpu=True would drop its plugin, and
    # DeepSpeed runs on CPU itself (DS_ACCELERATOR=cpu, gloo), so it is only turned off by engine.cpu.
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    acc = Accelerator(cpu=cpu or (not torch.cuda.is_available() and not deepspeed))
    if deepspeed and not cpu and not torch.cuda.is_available():
        _count_deepspeed_cpu_processes(acc)
    return acc


def _count_deepspeed_cpu_processes(acc) -> None:
    """accelerate 1.16 on a machine without CUDA lets DeepSpeed join the process group (gloo) but finds no backend
    of its own, so it records 1 process and index 0 on every process: each would then draw the whole batch, reduce
    wrongly and write the outputs. The counts are set from torch.distributed, in both of accelerate's shared states
    (AcceleratorState keeps its own copy)."""
    import os

    import torch.distributed as dist
    from accelerate.state import PartialState

    if not dist.is_initialized() or acc.num_processes == dist.get_world_size():
        return
    counts = {"num_processes": dist.get_world_size(), "process_index": dist.get_rank(),
              "local_process_index": int(os.environ.get("LOCAL_RANK", dist.get_rank()))}
    for state in (PartialState(), acc.state):
        for key, value in counts.items():
            setattr(state, key, value)


def _own_gpu() -> torch.device:
    from accelerate import PartialState

    return PartialState().device


class OneProcess:
    """The part of accelerate's `Accelerator` the loop uses, for one process and no collective."""

    num_processes = 1
    process_index = 0
    is_main_process = True

    def __init__(self, device: torch.device):
        from accelerate.utils import DistributedType

        self.device = device
        self.distributed_type = DistributedType.NO

    def prepare(self, *objects):
        return objects[0] if len(objects) == 1 else objects

    def no_sync(self, model):
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def reduce(self, tensor: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return tensor.clone()  # the mean or sum over one process

    def clip_grad_norm_(self, parameters, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
        """accelerate's arithmetic on one process: torch's total norm of the gradients, then clipping with it."""
        params = [p for p in parameters if p.grad is not None]
        return torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)

    def wait_for_everyone(self) -> None:
        pass

    def unwrap_model(self, model):
        return model
