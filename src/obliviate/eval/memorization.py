"""Memorization metrics: exact memorization and extraction strength (teacher-forced), verbmem and knowmem (greedy).

The first two read a per-token boolean "argmax == label" over the answer tokens, produced by one log-prob pass
(`scoring.py`); the last two score generations with ROUGE-L F1 × 100 (`rouge.py`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .rouge import rouge_l_f1

# The model starts a new item at a blank line, at a line opening with "Question", or at "Question:"; the word inside
# an answer ("The Question of Time") is part of the answer.
KNOWMEM_STOP = re.compile(r"\n\s*\n|\nQuestion|Question:")


def exact_memorization(correct: Sequence[bool]) -> float:
    """Fraction of answer positions whose teacher-forced argmax equals the label."""
    c = np.asarray(correct, dtype=bool)
    return float(c.mean()) if c.size else 0.0


def extraction_strength(correct: Sequence[bool]) -> float:
    """1 − k/|y| for the smallest k with argmax[k:] == labels[k:]; 0 when not even the last token matches.

    The smallest such k is |y| minus the length of the trailing run of correct positions, so ES is that run's
    length over |y|. (No 1/|y| floor: an item whose last token is wrong has nothing extractable.)
    """
    c = np.asarray(correct, dtype=bool)
    if c.size == 0:
        return 0.0
    wrong = np.flatnonzero(~c)
    run = c.size if wrong.size == 0 else c.size - 1 - int(wrong[-1])
    return run / c.size


def answer_positions(correct: Sequence[bool], labels: Sequence[int], eos_id: int | None) -> np.ndarray:
    """The answer's positions without a final EOS label: `correct` has one entry per scored label, in order.

    Every model, the oracle included, predicts the EOS after a trained answer; counting it would give every item
    a matching last position, i.e. bring back the 1/|y| floor of extraction strength (metrics.md §1).
    """
    c = np.asarray(correct, dtype=bool)
    if c.size and eos_id is not None and labels[-1] == eos_id:
        return c[:-1]
    return c


def cut_knowmem(text: str) -> str:
    """A knowmem answer ends where the model starts a new item: a blank line, "\\nQuestion" or "Question:"."""
    return KNOWMEM_STOP.split(text, maxsplit=1)[0].strip()


def rouge_f1_x100(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-item ROUGE-L F1 × 100 (verbmem, knowmem)."""
    return np.array([100.0 * rouge_l_f1(p, r) for p, r in zip(predictions, references, strict=True)])


def memorization_metrics(plan, stats, knowmem_answers: dict[str, list[str]], verb_gens: list[str] | None) -> dict:
    """exact_memorization and extraction_strength (forget answers), knowmem_f / knowmem_r, verbmem."""
    from obliviate.results import metric

    out: dict = {}
    forget = plan.qa.get("forget")
    if forget is not None:
        answers = [answer_positions(stats[h].correct, plan.book.items[h].labels, plan.eos_id) for h in forget.answer]
        out["exact_memorization"] = metric([exact_memorization(c) for c in answers])
        out["extraction_strength"] = metric([extraction_strength(c) for c in answers])
    for split, name in (("forget", "knowmem_f"), ("retain", "knowmem_r")):
        if plan.muse and split in knowmem_answers:
            gens = knowmem_answers[split]
            gold = [r["answer"] for r in plan.qa[split].records]
            out[name] = metric(rouge_f1_x100(gens, gold), generations=gens)
    if plan.verb is not None and verb_gens is not None:
        out["verbmem"] = metric(rouge_f1_x100(verb_gens, plan.verb.references), generations=verb_gens)
    return out
