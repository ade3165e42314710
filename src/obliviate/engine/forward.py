"""Forward passes of one training step: encode records once, run the model (and the frozen reference) on a
micro-batch, and pack what the method's `Needs` asked for into `SideStats` (`micro_batch`). Also the reference cache.

The reference is the model before unlearning: for LoRA, the same model with adapters disabled (no second copy);
otherwise a frozen copy, built only when some reference quantity must be recomputed every step.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field

import torch

from obliviate.errors import DataError
from obliviate.methods import Needs, SideNeeds, SideStats
from obliviate.models import Encoded, collate, encode_qa, forward_logprobs
from obliviate.models.scoped import eval_mode
from obliviate.models.spread import spread


@dataclass
class Encodings:
    """Every record tokenized once, and what is known of each example before training. `keys` are the forget
    examples' ids (cache keys); `alt` the alternative answers; `ref_seq` the reference cache, filled before the
    first step when the method needs reference sequence log-probs: {"forget" | "alt": {example id: log-prob}}."""

    forget: list[Encoded]
    retain: list[Encoded]
    keys: list[str]
    pad_id: int
    alt: list[Encoded] | None = None
    ref_seq: dict[str, dict[str, float]] = field(default_factory=dict)


def record_keys(records: list[dict], split: str) -> list[str]:
    """Example ids (the record's `id`, else its position), unique within the split."""
    keys = [str(r.get("id", f"#{i}")) for i, r in enumerate(records)]
    seen: set[str] = set()
    for i, k in enumerate(keys):
        if k in seen:
            raise DataError("duplicate example id", file=split, line=i, field="id", rule="unique in split", value=k)
        seen.add(k)
    return keys


def encode_records(tokenizer, records: list[dict], split: str, max_length: int, answers=None) -> list[Encoded]:
    out = []
    for i, r in enumerate(records):
        for name in ("question", "answer"):
            if not isinstance(r.get(name), str) or not r[name].strip():
                raise DataError("must be a non-empty string", file=split, line=i, field=name,
                                rule="QA record", value=r.get(name))
        answer = answers[i] if answers is not None else r["answer"]
        out.append(encode_qa(tokenizer, r["question"], answer, max_length=max_length))
    return out


def encode_all(method, needs, tokenizer, forget, retain, max_length: int, pad_id: int) -> Encodings:
    alt = None
    if needs.alt:
        answers = [method.alternative_answer(r, i) for i, r in enumerate(forget)]
        alt = encode_records(tokenizer, forget, "forget", max_length, answers)
    return Encodings(
        forget=encode_records(tokenizer, forget, "forget", max_length),
        retain=encode_records(tokenizer, retain, "retain", max_length),
        keys=record_keys(forget, "forget"),
        pad_id=pad_id,
        alt=alt,
    )


class Reference:
    """Frozen reference forward passes, under no_grad and in eval mode."""

    def __init__(self, model, is_peft: bool):
        self.is_peft = is_peft
        if is_peft:
            self.model = model  # adapters are disabled around each call
        else:
            self.model = copy.deepcopy(model).eval()
            self.model.requires_grad_(False)

    @torch.no_grad()
    def forward(self, batch, logits: bool = False, hidden: bool = False):
        ctx = self.model.disable_adapter() if self.is_peft else contextlib.nullcontext()
        with eval_mode(self.model), ctx:
            return forward_logprobs(self.model, batch, return_logits=logits, output_hidden_states=hidden)


def side_stats(model, batch, needs: SideNeeds, layer: int | None, ref: Reference | None,
               ref_seq: torch.Tensor | None, around=None, side: str = "forget") -> SideStats:
    """Model (with grad) and reference (without) statistics of one side; `ref_seq` (B,) from the cache, if any.
    `around(side, batch)`: a context manager around the model's own forward (step hooks; not the reference's)."""
    with around(side, batch) if around else contextlib.nullcontext():
        out = forward_logprobs(model, batch, return_logits=needs.logits, output_hidden_states=needs.hidden)
    device = out.logp.device
    stats = SideStats(
        logp=out.logp, mask=out.mask,
        targets=batch["labels"][:, 1:].clamp(min=0).to(device),
        attention_mask=batch["attention_mask"].to(device),
        logits=out.logits,
        hidden=out.hidden_states[layer] if needs.hidden else None,
        ref_seq_logp=ref_seq,
    )
    if needs.ref_logits or needs.ref_hidden or (needs.ref_seq and ref_seq is None):
        r = ref.forward(batch, logits=needs.ref_logits, hidden=needs.ref_hidden)
        stats.ref_logits = r.logits
        stats.ref_hidden = r.hidden_states[layer] if needs.ref_hidden else None
        if needs.ref_seq and ref_seq is None:
            stats.ref_seq_logp = r.logp.sum(-1)
    return stats


@dataclass
class MicroBatch:
    """What one micro-batch gives the method's loss, and what the loop logs of it."""

    forget: SideStats  # with .alt when the method asked for alternative answers
    retain: SideStats | None  # None when the method's loss does not use the retain side
    retain_nll: torch.Tensor | None  # scalar, detached: logged, and read by the divergence guard
    tokens: int  # non-padding tokens run through the model (forget, alt and retain)


def micro_batch(model, needs: Needs, enc: Encodings, ref: Reference | None, forget_idx: list[int],
                retain_idx: list[int], with_retain: bool, around=None) -> MicroBatch:
    """Collate the examples, run the forward passes `needs` asks for (with grad) and the reference passes (without).

    with_retain: run the retain examples even when the loss does not use them (no grad then): the divergence guard
    reads their NLL. around: the step hooks' context around each side's model forward (engine/hooks.py)."""
    device = next(model.parameters()).device

    def cached(name: str) -> torch.Tensor | None:  # (B,) reference sequence log-probs, when the cache has them
        if name not in enc.ref_seq:
            return None
        return torch.tensor([enc.ref_seq[name][enc.keys[i]] for i in forget_idx], device=device)

    layer = needs.hidden_layer
    f_batch = collate([enc.forget[i] for i in forget_idx], enc.pad_id)
    forget = side_stats(model, f_batch, needs.forget, layer, ref, cached("forget"), around, "forget")
    tokens = int(f_batch["attention_mask"].sum())
    if needs.alt:
        a_batch = collate([enc.alt[i] for i in forget_idx], enc.pad_id)
        forget.alt = side_stats(model, a_batch, needs.forget, layer, ref, cached("alt"), around, "alt")
        tokens += int(a_batch["attention_mask"].sum())
    retain = retain_nll = None
    if with_retain:
        r_batch = collate([enc.retain[i] for i in retain_idx], enc.pad_id)
        tokens += int(r_batch["attention_mask"].sum())
        if needs.retain.used:
            retain = side_stats(model, r_batch, needs.retain, layer, ref, None, around, "retain")
            retain_nll = retain.mean_token_nll().detach()
        else:
            with torch.no_grad():
                retain_nll = side_stats(model, r_batch, needs.retain, layer, None, None, around,
                                        "retain").mean_token_nll()
    return MicroBatch(forget, retain, retain_nll, tokens)


@torch.no_grad()
def build_ref_cache(model, ref: Reference | None, enc: list[Encoded], keys: list[str], pad_id: int,
                    batch_size: int) -> dict[str, float]:
    """{example id: reference sequence log-prob} in one no-grad pass. Before training the model *is* the reference,
    so without a `ref` the model itself (in eval mode) is used and no copy is made. Under several processes each
    computes its share of the batches and all receive every value (`spread`): keyed by example id, the cache is
    the same, bit for bit, whatever the number of processes. Call it before the model is sharded."""

    def score(idx: list[int]) -> list[float]:
        batch = collate([enc[i] for i in idx], pad_id)
        out = ref.forward(batch) if ref is not None else forward_logprobs(model, batch)
        return out.logp.sum(-1).tolist()

    batches = [range(start, min(start + batch_size, len(enc))) for start in range(0, len(enc), batch_size)]
    with eval_mode(model):
        values = spread(batches, score, len(enc))
    return dict(zip(keys, values, strict=True))
