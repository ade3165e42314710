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
from obliviate.models import Encoded, ForwardOut, collate, encode_qa, forward_logprobs
from obliviate.models.scoped import eval_mode
from obliviate.models.spread import in_lockstep, spread, world


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


# Stacking sides into one forward pays (one pass of bigger matmuls, half the per-op overhead) unless it pads much:
# "auto" stacks when the stacked batch holds at most this much more padded tokens than the separate batches.
FUSE_SLACK = 1.10


def stacked_forward(fn, groups: list[list[Encoded]], pad_id: int, fuse: str = "auto", agree: bool = True):
    """[(batch, ForwardOut)] of each group of examples, as `fn(collate(group))` would give it.

    Fused: one call of `fn` on the groups stacked (right-padded to the widest), its outputs cut back to each group's
    rows and width; with right padding and causal attention, a row's outputs before its padding do not depend on
    the padding, so the cut equals the separate pass up to float rounding (tests/engine/test_fused.py).
    fuse: "always", "never", or "auto" (stack unless that pads more than FUSE_SLACK times the separate tokens; with
    several processes, stack only where every process would: see `everywhere`). agree=False: `fn` is not a
    collective (a reference copy that runs on this process alone), so the processes need not agree and no all-reduce
    is spent on it."""
    batches = [collate(g, pad_id) for g in groups]
    widths = [b["input_ids"].shape[1] for b in batches]
    separate = sum(len(g) * w for g, w in zip(groups, widths, strict=True))
    stacked_tokens = sum(len(g) for g in groups) * max(widths)
    fused = len(groups) > 1 and (fuse == "always" or (fuse == "auto" and stacked_tokens <= FUSE_SLACK * separate))
    if len(groups) > 1 and fuse == "auto" and agree:
        fused = everywhere(fused)
    if not fused:
        return [(b, fn(b)) for b in batches]
    out = fn(collate([e for g in groups for e in g], pad_id))
    parts, row = [], 0
    for batch, width, n in zip(batches, widths, (len(g) for g in groups), strict=True):
        rows = slice(row, row + n)
        row += n
        parts.append((batch, ForwardOut(
            logp=out.logp[rows, :width - 1], mask=out.mask[rows, :width - 1],
            logits=out.logits[rows, :width - 1] if out.logits is not None else None,
            hidden_states=tuple(h[rows, :width] for h in out.hidden_states) if out.hidden_states else None)))
    return parts


def everywhere(flag: bool) -> bool:
    """True when `flag` is True on every process. A DDP or FSDP model's forward is a collective (buffer broadcast,
    parameter gathers), so a data-dependent choice of how many forwards to run must be the same on every process,
    or one process waits in a forward while another waits in backward. One process: the flag itself."""
    import torch.distributed as dist

    if world()[1] == 1:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    agreed = torch.tensor([int(flag)], device=device)
    dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
    return bool(agreed.item())


def side_stats(batch, out: ForwardOut, needs: SideNeeds, layer: int | None, ref_out: ForwardOut | None,
               ref_seq: torch.Tensor | None) -> SideStats:
    """Model (with grad) and reference (without) statistics of one side; `ref_seq` (B,) from the cache, if any."""
    device = out.logp.device
    stats = SideStats(
        logp=out.logp, mask=out.mask,
        targets=batch["labels"][:, 1:].clamp(min=0).to(device),
        attention_mask=batch["attention_mask"].to(device),
        logits=out.logits if needs.logits else None,
        hidden=out.hidden_states[layer] if needs.hidden else None,
        ref_seq_logp=ref_seq,
    )
    if ref_out is not None:
        stats.ref_logits = ref_out.logits if needs.ref_logits else None
        stats.ref_hidden = ref_out.hidden_states[layer] if needs.ref_hidden else None
        if needs.ref_seq and ref_seq is None:
            stats.ref_seq_logp = ref_out.logp.sum(-1)
    return stats


def _needs_ref_pass(needs: SideNeeds, cached: torch.Tensor | None) -> bool:
    return needs.ref_logits or needs.ref_hidden or (needs.ref_seq and cached is None)


@dataclass
class MicroBatch:
    """What one micro-batch gives the method's loss, and what the loop logs of it."""

    forget: SideStats | None  # with .alt when the method asked for it; None when `needs.forget.used` is False
    retain: SideStats | None  # None when the method's loss does not use the retain side
    retain_nll: torch.Tensor | None  # scalar, detached: logged, and read by the divergence guard
    tokens: int  # non-padding tokens run through the model (forget, alt and retain)


def micro_batch(model, needs: Needs, enc: Encodings, ref: Reference | None, forget_idx: list[int],
                retain_idx: list[int], with_retain: bool, fuse: str = "auto", around=None) -> MicroBatch:
    """Collate the examples, run the forward passes `needs` asks for (with grad) and the reference passes (without).

    The sides that run with gradients (forget, alt, retain) share one stacked forward, and the sides that need the
    reference share one reference forward (`stacked_forward`). with_retain: run the retain examples even when the
    loss does not use them (no grad then): the divergence guard reads their NLL. around: the step hooks' context
    around each side's model forward (engine/hooks.py); a hook must see its side alone, so with hooks the sides'
    own forwards run one by one (the reference's stay stacked). `needs.forget.used=False` (the stop rule's repair
    steps) skips the forget side: only the retain side runs."""
    device = next(model.parameters()).device

    def cached(name: str) -> torch.Tensor | None:  # (B,) reference sequence log-probs, when the cache has them
        if name not in enc.ref_seq:
            return None
        return torch.tensor([enc.ref_seq[name][enc.keys[i]] for i in forget_idx], device=device)

    layer = needs.hidden_layer
    sides = [("forget", [enc.forget[i] for i in forget_idx], needs.forget, cached("forget"))] \
        if needs.forget.used else []
    if needs.alt and needs.forget.used:
        sides.append(("alt", [enc.alt[i] for i in forget_idx], needs.forget, cached("alt")))
    if with_retain and needs.retain.used:
        sides.append(("retain", [enc.retain[i] for i in retain_idx], needs.retain, None))
    logits, hidden = any(s[2].logits for s in sides), any(s[2].hidden for s in sides)

    def own(b):  # the model's own forward (with grad) of a batch
        return forward_logprobs(model, b, return_logits=logits, output_hidden_states=hidden)

    if around is None:
        outs = stacked_forward(own, [s[1] for s in sides], enc.pad_id, fuse)
    else:
        outs = []
        for name, group, _, _ in sides:
            batch = collate(group, enc.pad_id)
            with around(name, batch):
                outs.append((batch, own(batch)))
    with_ref = [i for i, s in enumerate(sides) if _needs_ref_pass(s[2], s[3])]
    ref_outs = dict.fromkeys(range(len(sides)))
    if with_ref:
        r_logits, r_hidden = (any(getattr(sides[i][2], k) for i in with_ref) for k in ("ref_logits", "ref_hidden"))
        done = stacked_forward(lambda b: ref.forward(b, logits=r_logits, hidden=r_hidden),
                               [sides[i][1] for i in with_ref], enc.pad_id, fuse, agree=in_lockstep(ref.model))
        ref_outs.update({i: out for i, (_, out) in zip(with_ref, done, strict=True)})
    stats = {name: side_stats(batch, out, sn, layer, ref_outs[i], c)
             for i, ((name, _, sn, c), (batch, out)) in enumerate(zip(sides, outs, strict=True))}
    tokens = sum(int(batch["attention_mask"].sum()) for batch, _ in outs)
    forget, retain, retain_nll = stats.get("forget"), stats.get("retain"), None
    if forget is not None:
        forget.alt = stats.get("alt")
    if retain is not None:
        retain_nll = retain.mean_token_nll().detach()
    elif with_retain:
        r_batch = collate([enc.retain[i] for i in retain_idx], enc.pad_id)
        tokens += int(r_batch["attention_mask"].sum())
        with torch.no_grad(), around("retain", r_batch) if around else contextlib.nullcontext():
            out = forward_logprobs(model, r_batch)
            retain_nll = side_stats(r_batch, out, needs.retain, layer, None, None).mean_token_nll()
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
