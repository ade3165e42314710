"""Mixture-of-Experts routing: find a model's MoE blocks, record where its router sends tokens, and compare routings.

    blocks = moe_blocks(model)                        # [] for a dense model
    probs = routing(model, batches)                   # {layer: (N, E) router softmax over non-padding tokens}
    router_entropy(probs[0]); assignment_shift(before[0], after[0], top_k)

A block is a module with a router `gate` (a weight of shape (E, H)) and `experts` holding fused 3-D tensors whose
first dimension is the expert (transformers 5: Mixtral, Qwen2-MoE, OLMoE: `gate_up_proj` (E, 2I, H), `down_proj`
(E, H, I)). Router logits are recorded by a forward hook on the gate (its first output, (B·T, E) flattened with
padding), so no model flag is needed; padding rows are dropped with the attention mask.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .scoped import eval_mode

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks)\.(\d+)\.")


@dataclass(frozen=True)
class MoeBlock:
    """One MoE layer: its decoder-layer index, the router module and the names of its parameters."""

    layer: int
    gate: torch.nn.Module
    router_weight: str  # parameter name of the router weight (E, H)
    expert_params: tuple[str, ...]  # parameter names of the fused expert tensors, expert first: (E, ...)
    n_experts: int
    top_k: int


def moe_blocks(model: torch.nn.Module) -> list[MoeBlock]:
    """Every MoE block of `model`, by layer; [] for a dense model."""
    blocks = []
    for name, module in model.named_modules():
        gate, experts = getattr(module, "gate", None), getattr(module, "experts", None)
        weight = getattr(gate, "weight", None)
        if not isinstance(experts, torch.nn.Module) or not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            continue
        n = weight.shape[0]
        fused = tuple(f"{name}.experts.{p}" for p, t in experts.named_parameters(recurse=False)
                      if t.dim() == 3 and t.shape[0] == n)
        found = _LAYER.search(name + ".")
        if not fused or found is None:
            continue
        top_k = int(getattr(gate, "top_k", getattr(module, "top_k", 1)))
        blocks.append(MoeBlock(int(found.group(1)), gate, f"{name}.gate.weight", fused, n, top_k))
    return sorted(blocks, key=lambda b: b.layer)


def router_logits_of(output) -> torch.Tensor:
    """The router logits (B·T, E) from a gate module's output (a tensor, or a tuple whose first entry they are)."""
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def recording(blocks: list[MoeBlock]) -> Iterator[dict[int, list[torch.Tensor]]]:
    """Inside the block, every forward appends each gate's router logits (B·T, E) to `found[layer]`."""
    found: dict[int, list[torch.Tensor]] = {b.layer: [] for b in blocks}
    handles = [b.gate.register_forward_hook(lambda _m, _i, out, layer=b.layer: found[layer].append(
        router_logits_of(out))) for b in blocks]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def routing(model, batches: list[dict[str, torch.Tensor]]) -> dict[int, torch.Tensor]:
    """{layer: (N, E) router softmax probabilities} over the non-padding tokens of `batches` (eval mode)."""
    blocks = moe_blocks(model)
    device = next(model.parameters()).device
    masks = []
    with eval_mode(model), recording(blocks) as found:
        for batch in batches:
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            masks.append(batch["attention_mask"].reshape(-1).bool())
    keep = torch.cat(masks)
    return {layer: torch.cat(logits).float().softmax(-1)[keep.to(device)].cpu() for layer, logits in found.items()}


def router_entropy(probs: torch.Tensor) -> float:
    """Mean over tokens of the entropy (nats) of the router distribution; probs (N, E). log E = uniform."""
    return float(-(probs * probs.clamp(min=1e-12).log()).sum(-1).mean())


def assignment_shift(before: torch.Tensor, after: torch.Tensor, top_k: int) -> float:
    """1 − mean over tokens of the Jaccard similarity of the top-k expert sets before and after; probs (N, E).
    0: every token goes to the same experts; 1: no token keeps any of them."""
    e = before.shape[-1]
    a = torch.zeros_like(before, dtype=torch.bool).scatter_(1, before.topk(top_k, -1).indices, True)
    b = torch.zeros(after.shape[0], e, dtype=torch.bool).scatter_(1, after.topk(top_k, -1).indices, True)
    inter, union = (a & b).sum(-1).float(), (a | b).sum(-1).float()
    return float(1 - (inter / union).mean())
