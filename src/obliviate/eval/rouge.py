"""ROUGE-L through `rouge_score`: recall with the Porter stemmer (TOFU), F1 without it (MUSE).

Both score the longest common subsequence of words; the scorer objects are built once and reused.
"""
from __future__ import annotations

from functools import lru_cache

from rouge_score import rouge_scorer


@lru_cache(maxsize=2)
def _scorer(stem: bool) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)


def rouge_l_recall(prediction: str, reference: str) -> float:
    """LCS(pred, ref) / |ref| in words, stemmed: TOFU's `rouge_l_recall`."""
    return float(_scorer(True).score(reference, prediction)["rougeL"].recall)


def rouge_l_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of LCS precision and recall, no stemming: MUSE's verbmem and knowmem (before ×100)."""
    return float(_scorer(False).score(reference, prediction)["rougeL"].fmeasure)


ROUGE_CONVENTION = (
    "ROUGE-L via rouge_score (rougeL, not rougeLsum): TOFU rouge_l_recall = recall with use_stemmer=True; "
    "MUSE verbmem/knowmem = F1 with use_stemmer=False, x100; reference = gold text, prediction = generation")
