"""quantize: int8 and int4 weight-only quantization of every linear layer in the decoder blocks, then the forget
(and retain) knowledge again, on a copy of the model and of the oracle alike.

Paper: Zhang et al., "Catastrophic Failure of LLM Unlearning via Quantization" (ICLR 2025, arXiv:2410.16454):
unlearning with a small learning rate moves weights by less than a 4-bit quantization step, so the quantized
unlearned model rounds back to the quantized target; 8-bit keeps the difference. Per forget fact the check value is
P̃(value | question) of the quantized model; the oracle, quantized the same way, is the reference.

Library: bitsandbytes (its CPU backend): int8 = row-wise absmax (`int8_vectorwise_quant`), int4 = NF4 in blocks of
64 (`quantize_4bit`, its 4-bit weight format). Why: it is actively released, ships a CPU backend, needs no
compiler; optimum-quanto's last release is from March 2025 and its int4 path compiles a C++ extension on first use
(3 minutes on our CI machine). Weights are quantized and dequantized in place ("fake" quantization): the forward
pass then computes exactly what a weight-only int kernel computes, for any architecture, with `generate` intact.
Embeddings and the (tied) output head stay in full precision, as transformers' bitsandbytes integration leaves them.
"""
from __future__ import annotations

import copy
import logging

import torch

from .measure import fact_probs

NAME = "quantize"
PAPER = "Zhang et al. 2025, Catastrophic Failure of LLM Unlearning via Quantization (arXiv:2410.16454)"
NF4_BLOCK = 64


def requires(ctx) -> str | None:
    return None if ctx.facts["forget"] else "no forget QA items (field 'forget')"


def _bnb():
    # bitsandbytes' CPU backend logs a warning when its optional hub kernel package is absent; it falls back to
    # its own code, and the audit never downloads anything, so the warning is noise.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import bitsandbytes.functional as F

    return F


def round_trip(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """The weight after quantization to `bits` and back, as float32 of the same shape."""
    F = _bnb()
    w = weight.detach().float().cpu().contiguous()
    if bits == 8:
        codes, scales, _ = F.int8_vectorwise_quant(w)  # (out, in) int8, (out,) absmax per row
        return F.int8_vectorwise_dequant(codes, scales).reshape(w.shape)
    if bits == 4:
        # Quantized flat (blocks of 64 consecutive weights in row-major order): bitsandbytes 0.50's CPU
        # dequantization mis-handles 2-D weights whose row length is not a multiple of the block size.
        codes, state = F.quantize_4bit(w.flatten(), blocksize=NF4_BLOCK, quant_type="nf4")
        return F.dequantize_4bit(codes, state).reshape(w.shape)
    raise ValueError(f"quantize: bits must be 8 or 4, got {bits}")


def targets(model) -> dict[str, torch.nn.Linear]:
    """The linear layers that weight-only quantization replaces: those inside the decoder blocks."""
    head = model.get_output_embeddings()
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not head
            and ".layers." in f".{n}."}


@torch.no_grad()
def quantized(model, bits: int):
    """A copy of `model` whose decoder linear weights went through `bits`-bit quantization; `model` is untouched."""
    q = copy.deepcopy(model)
    layers = targets(q)
    if not layers:
        raise ValueError("quantize: the model has no linear layers inside '.layers.' to quantize")
    for lin in layers.values():
        lin.weight.copy_(round_trip(lin.weight, bits).to(lin.weight.dtype))
    return q.eval()


def run(ctx) -> dict:
    import numpy as np

    bits = ctx.config.quantize_bits
    names = [f"int{b}" for b in bits]
    groups = ctx.groups

    def measure(model):
        full = {g: fact_probs(model, ctx.tok, ctx.facts[g]) for g in groups}
        attacked, retain = {}, {}
        for b, name in zip(bits, names, strict=True):
            q = quantized(model, b)
            attacked[name] = {g: fact_probs(q, ctx.tok, ctx.facts[g]) for g in groups}
            retain[name] = float(np.mean(fact_probs(q, ctx.tok, ctx.facts["retain"]))) if ctx.facts["retain"] else None
        before = {name: full for name in names}
        retain["full"] = float(np.mean(fact_probs(model, ctx.tok, ctx.facts["retain"]))) if ctx.facts["retain"] else None
        return attacked, before, retain

    out = ctx.sides(measure)
    values = {side: v[0] for side, v in out.items()}
    before = {side: v[1] for side, v in out.items()}
    checks = ctx.checks(values, names, "P(value | question)", before=before)
    details = {"library": "bitsandbytes", "int8": "row-wise absmax int8", "int4": f"NF4, blocks of {NF4_BLOCK}",
               "quantized": "linear layers inside the decoder blocks (embeddings and output head kept)",
               "retain_prob": {side: v[2] for side, v in out.items()}}
    return ctx.result(__name__, checks, details)
