"""One batched, teacher-forced pass that yields every per-token statistic the metrics need.

Sequences from all evaluation sets are registered in a `ScoreBook` (identical encodings are scored once: TOFU's
forget and forget_perturbed share their answers), sorted by length, padded within each batch, and scored by one
forward pass each; sequences that share a prompt (a question with its answer, paraphrase and perturbed answers)
are packed into one row with the prompt run once (`packing.py`; OBLIVIATE_PACKED_SCORING=0 turns it off). Per
scored token we keep log p(label), whether the argmax is the label, and the mean and standard deviation of log p under the predicted distribution (Min-K%++). Prob, truth ratio, exact memorization,
extraction strength and every MIA score are then read from these arrays without touching the model again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from obliviate.models import Encoded, collate, forward_logprobs
from obliviate.models.recycling import supports
from obliviate.models.scoped import eval_mode
from obliviate.models.spread import spread

from .packing import pack_rows, packed_default, row_batches, score_rows

MAX_BATCH = 64
LOGIT_BUDGET = 2**27  # floats of logits per batch (512 MiB in float32): caps batch tokens for large vocabularies
# Tokens per batch whatever the vocabulary: activations (MLP width, attention's T x T per head, the scored logits'
# log-softmax) grow with a batch's tokens. Small-vocabulary models otherwise got ~200k-token budgets: on the
# issue-17 TOFU workload (3.6M-parameter Llama, vocab 661) packed scoring peaked 1.1 GB above the process's base
# at 64 rows x 384; at 4,096 tokens it peaks 0.4 GB above it and is no slower on CPU (BENCHMARKS.md).
MAX_BATCH_TOKENS = 4096


@dataclass(frozen=True)
class TokenStats:
    """Statistics of one sequence's scored (label) tokens, each of shape (n,)."""

    logp: np.ndarray  # log p(label_t | prefix)
    correct: np.ndarray  # bool: teacher-forced argmax == label_t
    mu: np.ndarray  # E_{v~p_t}[log p_t(v)]
    sigma: np.ndarray  # std of log p_t(v) under p_t

    @property
    def avg_nll(self) -> float:
        return float(-self.logp.mean()) if self.logp.size else float("nan")


class ScoreBook:
    """Register encodings once, score them all in one length-sorted pass, read results back by handle."""

    def __init__(self) -> None:
        self._handles: dict[tuple, int] = {}
        self.items: list[Encoded] = []

    def add(self, enc: Encoded) -> int:
        key = (tuple(enc.input_ids), tuple(enc.labels))
        if key not in self._handles:
            self._handles[key] = len(self.items)
            self.items.append(enc)
        return self._handles[key]

    def __len__(self) -> int:
        return len(self.items)

    def run(self, model, pad_id: int, max_batch: int = MAX_BATCH, packed: bool | None = None) -> list[TokenStats]:
        """Score every registered sequence; the list is indexed by the handles `add` returned.

        packed (default: on unless OBLIVIATE_PACKED_SCORING=0, for Llama-type models): sequences sharing a prompt
        are scored in one row with the prompt run once (`packing.py`); False: each sequence in its own padded row.
        Several processes (torchrun / accelerate launch): each scores its share of the batches (`spread`)."""
        # DDP wraps in .module; its forward may synchronise buffers (a collective), so the inner model is scored.
        model = getattr(model, "module", model)
        vocab = model.get_input_embeddings().weight.shape[0]
        max_tokens = max(512, min(MAX_BATCH_TOKENS, LOGIT_BUDGET // vocab))
        if packed is None:  # the default only where the tree mask is known to reach attention as given
            packed = packed_default() and supports(model)
        if packed:
            return self._run_packed(model, pad_id, max_tokens, max_batch)
        batches = length_batches([len(e) for e in self.items], max_tokens, max_batch)
        return spread(batches, lambda idx: score_batch(model, [self.items[i] for i in idx], pad_id),
                      len(self.items), model)

    def _run_packed(self, model, pad_id: int, max_tokens: int, max_batch: int) -> list[TokenStats]:
        rows = pack_rows(self.items)
        groups = row_batches(rows, max_tokens, max_batch)
        # spread deals batches of items: each batch of rows stands for the items its rows hold, in their order
        item_batches = [[i for r in g for i in rows[r].items] for g in groups]
        group_of = {tuple(items): g for items, g in zip(item_batches, groups, strict=True)}

        def score(idx: list[int]) -> list[TokenStats]:
            with eval_mode(model):
                owners, sel, labels, index = score_rows(model, [rows[r] for r in group_of[tuple(idx)]], pad_id)
                stats = token_stats(sel, labels, [n for _, n in owners], index=index)
            if [i for i, _ in owners] != idx:
                raise RuntimeError("packed scoring: rows returned their items out of order")
            return list(stats)

        return spread(item_batches, score, len(self.items), model)


def length_batches(lengths: list[int], max_tokens: int, max_batch: int) -> list[list[int]]:
    """Indices sorted by length, cut so that batch size × longest length stays within `max_tokens`."""
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: lengths[j]):
        if cur and (len(cur) + 1 > max_batch or (len(cur) + 1) * lengths[i] > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


@torch.no_grad()
def score_batch(model, encs: list[Encoded], pad_id: int) -> list[TokenStats]:
    batch = collate(encs, pad_id)
    with eval_mode(model):
        out = forward_logprobs(model, batch, return_logits=True)
    mask = out.mask  # (B, T-1)
    sel = out.logits[mask].float()  # (N, V): only scored positions, N = total label tokens of the batch
    labels = batch["labels"][:, 1:].to(mask.device)[mask]  # (N,)
    return token_stats(sel, labels, mask.sum(1).tolist(), logp=out.logp[mask].float())


def token_stats(sel: torch.Tensor, labels: torch.Tensor, counts: list[int], logp: torch.Tensor | None = None,
                index: torch.Tensor | None = None) -> list[TokenStats]:
    """TokenStats per sequence from the logits that predict its labels: labels (N,) of all sequences in order,
    their token counts (summing to N); sel (N, V), or (U, V) with `index` (N,) naming each label's row of it;
    logp (N,) when the caller has it already."""
    lsm = F.log_softmax(sel, dim=-1)
    p = lsm.exp()
    mu = (p * lsm).sum(-1)  # (U,)
    var = (p * (lsm - mu[:, None]).square()).sum(-1)  # centred: E[l^2] - mu^2 cancels badly when p is flat
    sigma = var.sqrt()
    top = sel.argmax(-1)
    rows = index if index is not None else torch.arange(len(labels), device=labels.device)
    correct = top[rows] == labels
    if logp is None:
        logp = lsm[rows, labels]
    mu, sigma = mu[rows], sigma[rows]
    cols = [t.cpu().double().numpy() for t in (logp, mu, sigma)]
    corr = correct.cpu().numpy()
    stats, start = [], 0
    for n in counts:
        sl = slice(start, start + n)
        stats.append(TokenStats(logp=cols[0][sl], correct=corr[sl], mu=cols[1][sl], sigma=cols[2][sl]))
        start += n
    return stats
