"""Masked weights held exactly fixed through any optimizer step: the one implementation both tracks use.

    held = HeldMask({name: bool tensor}, {name: parameter})   # True = may move; before the first step
    loss.backward(); held.zero_grads(); clip; optimizer.step(); held.restore(optimizer)

Multiplying the gradient by the mask is not enough. Decoupled weight decay (AdamW: θ ← θ − lr·wd·θ) and coupled
decay (SGD: wd·θ added to the gradient inside `step`) move a weight whose gradient is zero, and momentum or Adam's
moment estimates carry earlier gradients into later steps (after a resume, or for a mask that changed). So after
every step the masked entries are put back to the values they had when the mask was applied, and every optimizer
state tensor of the parameter's shape (AdamW's exp_avg / exp_avg_sq, SGD's momentum_buffer) is zeroed there.
Only the masked entries' values are stored (a 1-D copy), not a second copy of the model. Under FSDP2 the
parameters, gradients, optimizer state and masks are DTensors sharded alike: each process holds its own shard of
each, so everything here works on the local shards (`to_local()`), with no communication.
"""
from __future__ import annotations

import torch


def _local(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (a view: in-place changes reach the DTensor), or the tensor itself."""
    return t.to_local() if hasattr(t, "to_local") else t


class HeldMask:
    """Masks {name: bool tensor, True = may move} over `params`; see the module docstring."""

    def __init__(self, masks: dict[str, torch.Tensor], params: dict[str, torch.nn.Parameter]):
        self.params = {n: params[n] for n in masks}
        # ~keep: the entries held fixed; a 0/1 float mask is read as "non-zero = may move".
        self.fixed = {n: ~(_local(m).to(self.params[n].device) != 0) for n, m in masks.items()}
        self.values = {n: _local(self.params[n].detach())[f].clone() for n, f in self.fixed.items()}  # (n_fixed,)

    def zero_grads(self) -> None:
        """Zero the gradient of every held entry (call before clipping, so the norm is that of what moves)."""
        for n, f in self.fixed.items():
            g = self.params[n].grad
            if g is not None:
                _local(g).masked_fill_(f, 0)

    @torch.no_grad()
    def restore(self, optimizer) -> None:
        """After `optimizer.step()`: held entries back to their values, their optimizer state to zero."""
        state = getattr(optimizer, "optimizer", optimizer).state  # accelerate wraps the torch optimizer
        for n, f in self.fixed.items():
            p = self.params[n]
            _local(p.data).masked_scatter_(f, self.values[n])
            for v in state.get(p, {}).values():
                if torch.is_tensor(v) and v.shape == p.shape:
                    _local(v).masked_fill_(f, 0)
