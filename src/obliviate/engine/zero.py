"""DeepSpeed ZeRO-3 for the engine: parameters, gradients and optimizer state partitioned over the processes.

    accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml -m obliviate.cli unlearn ...
    DS_ACCELERATOR=cpu accelerate launch ... --mixed_precision no ...        # on CPU (gloo), as the test does

accelerate's `prepare` builds the DeepSpeed engine; the loop calls the engine's `backward` and `step` itself (so
masks can act between them); this module does what the loop needs around that:
- `configure`: the DeepSpeed settings the loop owns (micro-batch per process, clipping at train.max_grad_norm),
  written into accelerate's plugin before `prepare`;
- `shard_reference`: the frozen reference copy (kl, undial, rmu, uncached npo) partitioned too, as an optimizer-free
  DeepSpeed engine (its forward gathers each layer's parameters as it goes);
- `gather_full`: every process gets a plain model with the trained weights at the end.
Under ZeRO the gradients are not in `p.grad`; masks go through DeepSpeed's gradient API (`ZeroHeldMask`,
below). DeepSpeed is not a dependency: install it to use this (`pip install deepspeed`).
"""
from __future__ import annotations

import torch

from obliviate.errors import ConfigError


def is_zero(acc) -> bool:
    from accelerate.utils import DistributedType

    return getattr(acc, "distributed_type", None) == DistributedType.DEEPSPEED


def configure(acc, train) -> None:
    """Micro-batch, accumulation and clipping in accelerate's DeepSpeed plugin (it requires the micro-batch when no
    dataloader is prepared): train.batch_size = processes × grad_accum × micro-batch, as without DeepSpeed."""
    cfg = acc.state.deepspeed_plugin.deepspeed_config
    stage = cfg.get("zero_optimization", {}).get("stage")
    if stage != 3:
        raise ConfigError(f"DeepSpeed: only ZeRO stage 3 is supported by the engine; the config has stage {stage}")
    cfg["train_micro_batch_size_per_gpu"] = train.batch_size // (acc.num_processes * train.grad_accum)
    cfg["gradient_accumulation_steps"] = train.grad_accum
    cfg["gradient_clipping"] = float(train.max_grad_norm or 0.0)


def shard_reference(ref_model, acc):
    """The frozen reference as a ZeRO-3 engine without optimizer (partitioned like the model, gathered layer by
    layer in its forward). Returns the engine: call it like the model."""
    import deepspeed

    cfg = acc.state.deepspeed_plugin.deepspeed_config
    keep = ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "zero_optimization", "bf16", "fp16")
    ref_cfg = {k: v for k, v in cfg.items() if k in keep}
    ref_cfg["zero_optimization"] = {"stage": 3}
    for p in ref_model.parameters():
        p.requires_grad_(False)
    engine, *_ = deepspeed.initialize(model=ref_model, config=ref_cfg)
    engine.eval()
    return engine


def gather_full(model, acc, lora=None):
    """A plain model with the trained weights on every process: each partitioned parameter gathered (a collective,
    one at a time, so at most one full parameter is held besides the result) and copied."""
    import deepspeed

    from .sharding import rebuild

    module = acc.unwrap_model(model)
    full = {}
    for name, p in module.named_parameters():
        with deepspeed.zero.GatheredParameters([p], modifier_rank=None):
            full[name] = p.detach().clone()
    return rebuild(module, full, lora, "DeepSpeed")


class ZeroHeldMask:
    """HeldMask for ZeRO-3 (masking.py's rules: held entries' gradients zeroed before the step, their values and
    Adam moments put back after it), through DeepSpeed's per-partition API: each process holds a flat slice of each
    parameter (fp32 master weights, gradient, optimizer state) and applies its slice of the mask, no communication.
    Build it after `prepare` (the partitions exist then)."""

    def __init__(self, masks: dict[str, torch.Tensor], params: dict[str, torch.nn.Parameter]):
        from deepspeed.utils import safe_get_local_fp32_param

        self.params = {n: params[n] for n in masks}
        self.fixed = {n: self._slice(p, masks[n] == 0) for n, p in self.params.items()}
        self.values = {n: safe_get_local_fp32_param(p)[self.fixed[n]].clone() for n, p in self.params.items()}

    @staticmethod
    def _slice(p, fixed: torch.Tensor) -> torch.Tensor:
        """This process's part of a full bool mask: ZeRO-3 keeps elements [rank·n, (rank+1)·n) of the flattened
        parameter (n = the partition size; the last partition is padded, the padding never held)."""
        import torch.distributed as dist

        n = p.ds_tensor.numel()
        start = dist.get_rank() * n if dist.is_initialized() else 0
        flat = torch.zeros(n, dtype=torch.bool)
        part = fixed.flatten()[start:start + n].cpu()
        flat[:part.numel()] = part
        return flat.to(p.ds_tensor.device)

    def zero_grads(self) -> None:
        from deepspeed.utils import safe_get_local_grad, safe_set_local_grad

        for n, p in self.params.items():
            g = safe_get_local_grad(p)
            if g is not None:
                safe_set_local_grad(p, g.masked_fill(self.fixed[n].view_as(g), 0))

    @torch.no_grad()
    def restore(self, optimizer=None) -> None:
        from deepspeed.utils import (
            safe_get_local_fp32_param,
            safe_get_local_optimizer_state,
            safe_set_local_fp32_param,
            safe_set_local_optimizer_state,
        )

        for n, p in self.params.items():
            f = self.fixed[n]
            master = safe_get_local_fp32_param(p)
            safe_set_local_fp32_param(p, master.masked_scatter(f.view_as(master), self.values[n]))
            local = p.ds_tensor.data.view(-1)  # the partition the forward gathers (a copy of the master here)
            local.masked_scatter_(f, self.values[n].to(local.dtype))
            for key in ("exp_avg", "exp_avg_sq"):
                state = safe_get_local_optimizer_state(p, key)
                if state is not None:
                    safe_set_local_optimizer_state(p, state.masked_fill(f.view_as(state), 0), key)
