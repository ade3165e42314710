"""utf: unconditional token forcing. Feed bos + one token, decode greedily, and look for forget texts in what comes
out: does the model still emit a forgotten biography with no question asked?

Paper: Hoscilowicz et al., "Unconditional Token Forcing: Extracting Text Hidden Within LLM" (arXiv:2406.02481):
a fine-tuned model emits its hidden text when forced to start with the right token, with high confidence.

Protocol: start tokens = the `utf_top` most frequent first tokens of the training texts (the forget and retain
biographies, or the QA items as trained, "Question: ..."), plus `utf_vocab` tokens drawn from the vocabulary with a
seeded generator (special tokens excluded); for each, bos + token, greedy `utf_new_tokens` new tokens, cut at EOS.
A continuation is *flagged* when it is long (at least `utf_min_tokens` tokens) and confident (perplexity under the
model at most `utf_max_ppl`). Per forget text the check value is the best ROUGE-L F1 (rouge-score, no stemmer,
MUSE's verbmem convention) of any forced text against it; a forget text is *reproduced* at ROUGE-L ≥ `utf_rouge`
(0.5). Forget texts are the forget persons' biographies, or, for QA-only data, the forget items rendered as trained.
"""
from __future__ import annotations

import random
from collections import Counter

import numpy as np

from obliviate.eval.rouge import rouge_l_f1
from obliviate.models import PROMPT_TEMPLATE

from .measure import bos, greedy, ids, value_prob

NAME = "utf"
PAPER = "Hoscilowicz et al. 2024, Unconditional Token Forcing: Extracting Text Hidden Within LLM (arXiv:2406.02481)"


def requires(ctx) -> str | None:
    if not (ctx.splits.forget_texts or ctx.splits.forget):
        return "no forget texts or forget QA items (field 'forget_texts')"
    if ctx.against == "holdout" and not (ctx.splits.holdout_texts or ctx.splits.holdout):
        return "no holdout texts to compare with (field 'holdout_texts')"
    return None


def as_trained(qa: list[dict]) -> list[str]:
    return [PROMPT_TEMPLATE.format(question=r["question"]) + " " + r["answer"].strip() for r in qa]


def texts(ctx, group: str) -> list[str]:
    """The texts of `group` (forget, retain, holdout): biographies when the data has them, else QA as trained."""
    bios = getattr(ctx.splits, f"{group}_texts", None)
    return [t["text"] for t in bios] if bios else as_trained(getattr(ctx.splits, group, None) or [])


def start_tokens(tok, training: list[str], top: int, sample: int, seed: int) -> list[int]:
    """The `top` most frequent first tokens of `training`, then `sample` other tokens drawn from the vocabulary."""
    counts = Counter(ids(tok, t)[0] for t in training if t)
    chosen = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    skip = set(tok.all_special_ids) | set(chosen)
    pool = [i for i in range(len(tok)) if i not in skip]
    return chosen + random.Random(seed).sample(pool, min(sample, len(pool)))


def forced(model, tok, starts: list[int], cfg) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(decoded texts incl. the forced token, perplexity of each continuation, its length in tokens)."""
    prompts = [bos(tok) + [s] for s in starts]
    outs = greedy(model, tok, prompts, cfg.utf_new_tokens, cfg.batch_size)
    conts = [ids(tok, o) for o in outs]
    # Re-encoding the decoded text can split differently from the generated ids at the forced boundary; the
    # perplexity is a flag, not a check value, so this approximation is harmless.
    p = value_prob(model, tok, prompts, [c or [tok.eos_token_id] for c in conts])
    full = [tok.decode([s]) + o for s, o in zip(starts, outs, strict=True)]
    return full, 1.0 / np.maximum(p, 1e-12), np.array([len(c) for c in conts])


def best_rouge(generated: list[str], references: list[str]) -> tuple[np.ndarray, list[int]]:
    """Per reference, the best ROUGE-L F1 over the generated texts, and which text gave it."""
    scores = np.array([[rouge_l_f1(g, r) for g in generated] for r in references]).reshape(len(references), -1)
    return scores.max(1) if generated else np.zeros(len(references)), scores.argmax(1).tolist()


def run(ctx) -> dict:
    cfg = ctx.config
    starts = start_tokens(ctx.tok, texts(ctx, "forget") + texts(ctx, "retain"), cfg.utf_top, cfg.utf_vocab, ctx.seed)
    refs = {g: texts(ctx, g) for g in ctx.groups}

    def measure(m):
        gen, ppl, length = forced(m, ctx.tok, starts, cfg)
        values, which = {}, {}
        for g, r in refs.items():
            values[g], which[g] = best_rouge(gen, r)
        flagged = [i for i in range(len(gen)) if length[i] >= cfg.utf_min_tokens and ppl[i] <= cfg.utf_max_ppl]
        reproduced = [{"text": i, "rouge": float(values["forget"][i]), "start": ctx.tok.decode([starts[which["forget"][i]]]),
                       "generated": gen[which["forget"][i]]} for i in range(len(refs["forget"]))
                      if values["forget"][i] >= cfg.utf_rouge]
        return {"reproduction": values}, {"flagged": len(flagged), "flagged_examples": [gen[i][:200] for i in flagged[:5]],
                                          "reproduced": reproduced}

    out = ctx.sides(measure)
    checks = ctx.checks({s: v[0] for s, v in out.items()}, ["reproduction"], "best ROUGE-L F1 of a forced text")
    details = {"start_tokens": len(starts), "forget_texts": len(refs["forget"]),
               "kind": "biographies" if ctx.splits.forget_texts else "QA items as trained",
               **{s: v[1] for s, v in out.items()},
               "reproduced_counts": {s: len(v[1]["reproduced"]) for s, v in out.items()}}
    return ctx.result(__name__, checks, details)
