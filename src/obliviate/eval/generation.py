"""Batched greedy generation that returns token ids, so one generation serves several metrics.

TOFU's ROUGE answer (up to 200 tokens with the prompt) and MUSE's knowmem answer (its first 32 new tokens) come
from the same greedy run: greedy decoding is deterministic, so the short answer is a prefix of the long one.
Prompts are sorted by length and left-padded within a batch; `model.generate` keeps the KV cache.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def generate_ids(model, prompts: list[list[int]], budgets: list[int], pad_id: int, eos_id: int | None,
                 batch_size: int = 32) -> list[list[int]]:
    """Greedy new-token ids for each prompt, at most `budgets[i]` of them, cut before the first EOS."""
    if not prompts:
        return []
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[int]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)  # (B, T) left-padded
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             max_new_tokens=max(budgets[i] for i in idx), do_sample=False,
                             pad_token_id=pad_id, eos_token_id=eos_id, use_cache=True)
        for row, i in enumerate(idx):
            new = gen[row, width:].tolist()[:budgets[i]]
            out[i] = new[:new.index(eos_id)] if eos_id in new else new
    model.train(was_training)
    return out
