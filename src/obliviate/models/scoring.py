"""Forward passes that every stage shares: per-token log-probs of the labels, and batched greedy generation.

Shapes: a batch is (B, T); log-probs are shifted, so position t scores label t+1 given tokens ≤ t: (B, T-1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from .encode import IGNORE
from .recycling import n_params, recycled_greedy, recycling_default, supports, tree_for
from .scoped import eval_mode
from .spread import spread
from .tokenizer import pad_id


@dataclass
class ForwardOut:
    logp: torch.Tensor  # (B, T-1) log p(label) at answer positions, 0 elsewhere
    mask: torch.Tensor  # (B, T-1) bool, True on scored (answer) positions
    logits: torch.Tensor | None = None  # (B, T-1, V), aligned with logp
    hidden_states: tuple[torch.Tensor, ...] | None = None  # each (B, T, d); [0] = embeddings

    @property
    def seq_nll(self) -> torch.Tensor:
        """(B,) summed NLL of each sequence's answer tokens."""
        return -self.logp.sum(dim=1)

    @property
    def n_tokens(self) -> torch.Tensor:
        """(B,) number of answer tokens."""
        return self.mask.sum(dim=1)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shifted label log-probs (B, T-1) and their mask from logits (B, T, V) and labels (B, T)."""
    logits = logits[:, :-1].float()
    target = labels[:, 1:]
    mask = target != IGNORE
    logp = torch.gather(F.log_softmax(logits, dim=-1), 2, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask


def forward_logprobs(model, batch: dict[str, torch.Tensor], return_logits: bool = False,
                     output_hidden_states: bool = False) -> ForwardOut:
    device = next(model.parameters()).device
    out = model(
        input_ids=batch["input_ids"].to(device),
        attention_mask=batch["attention_mask"].to(device),
        output_hidden_states=output_hidden_states,
    )
    logp, mask = logprobs_from_logits(out.logits, batch["labels"].to(device))
    return ForwardOut(
        logp=logp,
        mask=mask,
        logits=out.logits[:, :-1] if return_logits else None,
        hidden_states=out.hidden_states if output_hidden_states else None,
    )


def _cut(text: str, stop_strings: list[str] | None) -> str:
    for s in stop_strings or []:
        i = text.find(s)
        if i >= 0:
            text = text[:i]
    return text.strip()


@torch.no_grad()
def generate_ids(model, prompts: list[list[int]], budgets: list[int], pad_id: int, eos_id: int | None,
                 batch_size: int = 32, recycle: bool | None = None) -> list[list[int]]:
    """Greedy new-token ids for each prompt, at most `budgets[i]` of them, cut before the first EOS.

    Prompts are sorted by length and left-padded within a batch. recycle (default: on unless
    OBLIVIATE_TOKEN_RECYCLING=0; Llama-type models): Token Recycling drafts and verifies several tokens per forward
    (`recycling.py`) with the same output, for batches where a draft tree's forward is cheap enough (`tree_for`);
    otherwise `model.generate` decodes one token per forward with the KV cache.
    """
    if not prompts:
        return []
    recycle = (recycling_default() if recycle is None else recycle) and supports(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    def run(idx: list[int]) -> list[list[int]]:
        max_new = max(budgets[i] for i in idx)
        tree = tree_for(len(idx), n_params(model)) if recycle else None  # None: drafts would not pay
        if tree is not None:
            rows, ties = recycled_greedy(model, *_left_pad(model, [prompts[i] for i in idx], pad_id), max_new,
                                         eos_id, tree)
            back = [k for k, t in enumerate(ties) if t]  # near-ties: plain decoding decides these rows
            for k, row in zip(back, _plain(model, [prompts[idx[k]] for k in back], max_new, pad_id, eos_id),
                              strict=True):
                rows[k] = row
        else:
            rows = _plain(model, [prompts[i] for i in idx], max_new, pad_id, eos_id)
        found = []
        for row, i in zip(rows, idx, strict=True):
            new = row[:budgets[i]]
            found.append(new[:new.index(eos_id)] if eos_id in new else new)
        return found

    with eval_mode(model):  # several processes: each generates its share of the batches (`spread`)
        return spread(batches, run, len(prompts), model)


def _left_pad(model, prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids and attention mask (B, T), left-padded, on the model's device."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    device = next(model.parameters()).device
    return ids.to(device), mask.to(device)


def _plain(model, prompts: list[list[int]], max_new: int, pad_id: int, eos_id: int | None) -> list[list[int]]:
    """`model.generate`, one token per forward with the KV cache: max_new new tokens per prompt (pads after EOS)."""
    if not prompts:
        return []
    ids, mask = _left_pad(model, prompts, pad_id)
    gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                         pad_token_id=pad_id, eos_token_id=eos_id, use_cache=True)
    return gen[:, ids.shape[1]:].tolist()


def greedy_generate(
    model,
    tokenizer: PreTrainedTokenizerBase,
    prompts_ids: list[list[int]],
    max_new_tokens: int,
    batch_size: int = 32,
    stop_strings: list[str] | None = None,
) -> list[str]:
    """Greedy continuations of token-id prompts as text, cut at EOS and at the first of `stop_strings`."""
    ids = generate_ids(model, prompts_ids, [max_new_tokens] * len(prompts_ids), pad_id(tokenizer),
                       tokenizer.eos_token_id, batch_size)
    return [_cut(tokenizer.decode(row, skip_special_tokens=True), stop_strings) for row in ids]
