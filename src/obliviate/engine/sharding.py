"""FSDP2 sharding for the engine: parameters, gradients and optimizer state split over the processes.

Two ways in. On GPUs, `accelerate launch --config_file configs/accelerate/fsdp.yaml` makes accelerate shard the
model in `prepare`. On CPU process groups (torchrun + gloo) accelerate never shards (it picks MULTI_CPU, i.e.
DDP), so `engine.fsdp=true` makes the loop call `shard()` itself: torch's `fully_shard` on every decoder layer
(the model's `_no_split_modules`) and on the root, over a 1-D mesh of all processes. Either way the parameters
become DTensors sharded on dim 0, keeping their names; the rest of this module handles that:
- `place_masks`: a gradient mask {name: full tensor} is cut the same way as its parameter's gradient, so that
  `grad.mul_(mask)` multiplies each shard by its own part of the mask (FSDP2 keeps original parameters, so the
  FSDP1 flat-parameter problem does not arise; masks are still keyed by the original names);
- `gather_full`: at the end every process gets a plain (unsharded) model rebuilt from the full state dict.
Run: `torchrun --nproc_per_node 2 -m obliviate.cli unlearn ... --set engine.fsdp=true` (tests/engine/fsdp_worker.py).
"""
from __future__ import annotations

import torch


def is_sharded(model) -> bool:
    """True when some parameter of `model` is a DTensor (sharded by FSDP2, ours or accelerate's)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def _layer_classes(model) -> set[str]:
    """Class names of the decoder layers: each becomes one FSDP unit (all-gathered just before its forward)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the HF model
    return set(getattr(base, "_no_split_modules", None) or [])


def shard(model, device: torch.device):
    """Apply `fully_shard` to each decoder layer, then to the root (embeddings, tied head, norm, LoRA adapters
    outside layers). Needs an initialised process group; returns the same module object, now sharded."""
    from torch.distributed import get_world_size
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (get_world_size(),))
    layers = _layer_classes(model)
    for module in model.modules():
        if type(module).__name__ in layers:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def place_masks(masks: dict[str, torch.Tensor] | None, trainable: dict[str, torch.nn.Parameter]):
    """Each full mask as a DTensor with its parameter's mesh and placements (no communication: every process
    holds the full mask and keeps its own shard); masks of unsharded parameters are returned as they are."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not masks:
        return masks
    out = {}
    for name, mask in masks.items():
        p = trainable[name]
        out[name] = (distribute_tensor(mask.to(p.dtype), p.device_mesh, p.placements, src_data_rank=None)
                     if isinstance(p, DTensor) else mask)
    return out


def as_number(value) -> float:
    """A scalar that may be a DTensor (clip_grad_norm_ over sharded gradients returns one) as a Python float."""
    return float(value.full_tensor() if hasattr(value, "full_tensor") else value)


def _plain_class(cls: type) -> type:
    """The class a module had before `fully_shard` swapped in its FSDP subclass."""
    from torch.distributed.fsdp import FSDPModule

    return next(c for c in cls.__mro__ if not issubclass(c, FSDPModule))


def gather_full(model, lora=None):
    """A plain model with the trained weights: the full state dict (gathered on every process), loaded into a
    fresh model of the same class built on the meta device; buffers (not sharded) are copied over. LoRA runs
    rebuild the base model and re-apply the same adapters, so the state dict's names match."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    return rebuild(model, full, lora, "FSDP")


def rebuild(model, full: dict[str, torch.Tensor], lora=None, backend: str = "FSDP"):
    """A plain model of `model`'s class and config holding the full state dict `full` (every parameter of a fresh
    model must be there); buffers are copied from `model` (they are never sharded)."""
    from .lora import apply_lora

    base = model.get_base_model() if lora is not None else model
    with torch.device("meta"):
        fresh = _plain_class(type(base))(base.config)
        if lora is not None:
            fresh = apply_lora(fresh, lora)
    missing = set(dict(fresh.named_parameters())) - set(full)
    if missing:
        raise RuntimeError(f"{backend} gather: parameters missing from the full state dict: {sorted(missing)[:5]}")
    fresh.load_state_dict(full, assign=True, strict=False)
    buffers = dict(model.named_buffers())
    for name, _ in list(fresh.named_buffers()):
        owner, _, leaf = name.rpartition(".")
        module = fresh.get_submodule(owner)
        module.register_buffer(leaf, buffers[name].clone(), persistent=leaf not in module._non_persistent_buffers_set)
    if hasattr(fresh, "tie_weights"):
        fresh.tie_weights()
    return fresh
