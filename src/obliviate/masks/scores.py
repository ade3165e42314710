"""Per-weight scores that choose which weights an unlearning run may move: WAGLE, saliency, magnitude, random.

    g_f = grad_mean(params, nll_batches(model, tok, forget))    # ∇θ ℓ_f at θ₀, ℓ = mean answer-token NLL
    g_r = grad_mean(params, nll_batches(model, tok, retain))
    s = wagle_scores(params, g_f, g_r, mu=1e-6)                 # {name: tensor}, larger = more worth moving

The top `fraction` of the scores (`select.top_fraction`) may move; the rest is held fixed by the engine.

WAGLE (Jia et al., NeurIPS 2024), derived here in our own words. Unlearning is bi-level: the upper level asks how
much each weight matters for the forget loss ℓ_f; the lower level says that the weights are whatever keeps the
retain loss ℓ_r low. Let ε ∈ [0,1]^d scale the weights (ε = 1: the model as it is, ε_i = 0: weight i removed) and
let the lower level be a proximal retain fit around the current weights θ₀:

    θ*(ε) = ε ⊙ θ_r,    θ_r = argmin_θ  ℓ_r(θ) + (μ/2)·‖θ − θ₀‖²

A quadratic model of ℓ_r at θ₀ with the diagonal Hessian approximated by a constant (absorbed into μ: H + μI ≈ μI)
gives one closed-form step, θ_r ≈ θ₀ − g_r/μ with g_r = ∇ℓ_r(θ₀). The attribution of weight i is the change of
the upper objective when that weight is removed; to first order, with g_f = ∇ℓ_f(θ₀):

    ℓ_f(θ*(ε with ε_i = 0)) − ℓ_f(θ*(1)) ≈ g_f,i · (0 − θ_r,i) = −(θ₀,i − g_r,i/μ) · g_f,i
    S_i = |(θ₀,i − g_r,i/μ) · g_f,i|

A large S_i: moving weight i changes the forget loss a lot, taking into account where the retain fit puts it. As
μ → ∞ the retain term vanishes and S is SNIP's |θ·g_f|; as μ → 0 it ranks by |g_r·g_f|. The paper's configs use
μ = 1e-6 on gradients summed over batches; ours are gradients of the mean loss (the same direction, divided by the
number of batches), so their μ corresponds to ours × the number of batches.

saliency (SalUn, for LLMs): |g_f|. magnitude: |θ| (large weights may move). random: uniform draws from a seeded
generator (a baseline with no information).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

from obliviate.models import collate, encode_qa, forward_logprobs

Scores = dict[str, torch.Tensor]


def nll_batches(model, tokenizer, records: list[dict], batch_size: int = 8,
                max_length: int = 512) -> Iterator[Callable[[], torch.Tensor]]:
    """One callable per batch of QA records, returning the batch's mean answer-token NLL (with grad)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode_qa(tokenizer, r["question"], r["answer"], max_length=max_length) for r in records]
    for i in range(0, len(encoded), batch_size):
        batch = collate(encoded[i:i + batch_size], pad)

        def loss(batch=batch) -> torch.Tensor:
            out = forward_logprobs(model, batch)
            return -out.logp.sum() / out.mask.sum().clamp(min=1)

        yield loss


def grad_mean(params: dict[str, torch.nn.Parameter], losses: Iterable[Callable[[], torch.Tensor]]) -> Scores:
    """Mean over `losses` of ∇ loss for each parameter, as float32 (torch.autograd.grad: .grad is left alone).
    Call it with the model in eval mode, so that dropout does not make the scores random."""
    names = list(params)
    total = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in names}
    count = 0
    for loss in losses:
        grads = torch.autograd.grad(loss(), [params[n] for n in names], allow_unused=True)
        for n, g in zip(names, grads, strict=True):
            if g is not None:
                total[n] += g.float()
        count += 1
    return {n: t / max(count, 1) for n, t in total.items()}


def wagle_scores(params: dict[str, torch.Tensor], g_forget: Scores, g_retain: Scores, mu: float = 1e-6) -> Scores:
    """S = |(θ − g_r/μ) · g_f| per entry (module docstring)."""
    return {n: ((p.detach().float() - g_retain[n] / mu) * g_forget[n]).abs() for n, p in params.items()}


def saliency_scores(g_forget: Scores) -> Scores:
    """SalUn's rule: |∇θ ℓ_f|."""
    return {n: g.abs() for n, g in g_forget.items()}


def magnitude_scores(params: dict[str, torch.Tensor]) -> Scores:
    return {n: p.detach().float().abs() for n, p in params.items()}


def random_scores(params: dict[str, torch.Tensor], seed: int = 0) -> Scores:
    """Uniform [0, 1) scores, drawn in name order from one generator seeded with `seed` (device-independent)."""
    g = torch.Generator().manual_seed(seed)
    return {n: torch.rand(params[n].shape, generator=g) for n in sorted(params)}
