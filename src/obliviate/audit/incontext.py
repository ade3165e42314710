"""incontext: put the person's *other* facts in the prompt, then ask the question; greedy answer scored by exact
match and ROUGE-L recall, model against the oracle under the same prompt; retain persons as the control.

Paper: Shumailov et al., "UnUnlearning: Unlearning is not Sufficient for Content Regulation in Advanced Generative
AI" (arXiv:2407.00106): knowledge removed from the weights can come back through the context. The oracle shows what
the context alone gives (it never saw the person); the model's excess over it is knowledge the context re-activated.

Protocol: for each forget fact, context = the answers of the same person's other items (never the asked one), as
plain sentences in the data's order, cut to `incontext_max_tokens` tokens; prompt = bos + context + "\\n" + the
trained QA format. Greedy answer (as many new tokens as the gold answer has, plus 8), cut at EOS. Checks: `exact`
(the normalised answer equals the gold answer) and `rouge` (ROUGE-L recall, rouge-score with stemmer, TOFU's). The
same on up to as many retain facts is reported as the control (informational: both models were trained on them).
Without the context the same answers are the `before` values.
"""
from __future__ import annotations

import random

import numpy as np

from obliviate.eval.rouge import rouge_l_recall
from obliviate.models.train import normalise

from .facts import Fact, persons
from .measure import greedy, ids, qa_prompt

NAME = "incontext"
PAPER = ("Shumailov et al. 2024, UnUnlearning: Unlearning is not Sufficient for Content Regulation in Advanced "
         "Generative AI (arXiv:2407.00106)")


def requires(ctx) -> str | None:
    forget = ctx.facts["forget"]
    if not any(f.person is not None for f in forget):
        return "the forget items carry no person id to gather a person's other facts (field 'person')"
    counts = {p: sum(f.person == p for f in forget) for p in persons(forget)}
    if max(counts.values()) < 2:
        return "every forget person has a single item: there are no other facts to put in context (field 'person')"
    return None


def context_of(fact: Fact, facts: list[Fact], tok, budget: int) -> str:
    """The other answers of `fact`'s person, joined as sentences, kept whole while they fit in `budget` tokens."""
    kept, used = [], 0
    for other in facts:
        if other.person != fact.person or other.id == fact.id:
            continue
        n = len(ids(tok, " " + other.answer))
        if used + n > budget:
            break
        kept.append(other.answer.strip())
        used += n
    return " ".join(kept) + "\n" if kept else ""


def run(ctx) -> dict:
    cfg = ctx.config
    groups = {g: ctx.facts[g] for g in ctx.groups}
    retain = ctx.facts["retain"]
    control = random.Random(ctx.seed).sample(retain, min(len(ctx.facts["forget"]), len(retain))) if retain else []
    control = sorted(control, key=lambda f: retain.index(f))  # keep each person's facts together, in data order
    # A person's other facts come from the full retain split, not only from the sampled control items.
    pools = {**groups, "control": retain}

    def measure(m, with_context):
        out = {"exact": {}, "rouge": {}}
        for g, facts in {**groups, "control": control}.items():
            res = answers(m, ctx.tok, facts, pools[g], cfg, with_context)
            for k in out:
                out[k][g] = res[k]
        return out

    out = ctx.sides(lambda m: (measure(m, True), measure(m, False)))
    values = {s: v[0] for s, v in out.items()}
    before = {s: v[1] for s, v in out.items()}
    checks = ctx.checks(values, ["exact", "rouge"], "greedy answer with the person's other facts in context",
                        before=before)
    control_scores = {s: {k: float(np.mean(v[0][k]["control"])) if len(v[0][k]["control"]) else None
                          for k in ("exact", "rouge")} for s, v in out.items()}
    details = {"context_budget_tokens": cfg.incontext_max_tokens, "control_items": len(control),
               "control": control_scores}
    return ctx.result(__name__, checks, details)


def answers(model, tok, facts: list[Fact], pool: list[Fact], cfg, with_context: bool) -> dict:
    """exact (0/1) and rouge (recall) of greedy answers, with or without the person's other facts (from `pool`,
    the fact's whole split) in the prompt."""
    if not facts:
        return {"exact": np.array([]), "rouge": np.array([])}
    prompts = [qa_prompt(tok, f.question, context=context_of(f, pool, tok, cfg.incontext_max_tokens)
                         if with_context else "") for f in facts]
    longest = max(len(ids(tok, " " + f.answer)) for f in facts) + 8
    outs = greedy(model, tok, prompts, longest, cfg.batch_size)
    return {"exact": np.array([float(normalise(o) == normalise(f.answer)) for o, f in zip(outs, facts, strict=True)]),
            "rouge": np.array([rouge_l_recall(o, f.answer) for o, f in zip(outs, facts, strict=True)])}
