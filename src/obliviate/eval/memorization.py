"""Memorization metrics: exact memorization and extraction strength (teacher-forced), verbmem and knowmem (greedy).

The first two read a per-token boolean "argmax == label" over the answer tokens, produced by one log-prob pass
(`scoring.py`); the last two score generations with ROUGE-L F1 × 100 (`rouge.py`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .rouge import rouge_l_f1

KNOWMEM_STOP = re.compile(r"\n\s*\n|Question")


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


def cut_knowmem(text: str) -> str:
    """A knowmem answer ends at the first blank line or the word "Question" (the model starting a new item)."""
    return KNOWMEM_STOP.split(text, maxsplit=1)[0].strip()


def rouge_f1_x100(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-item ROUGE-L F1 × 100 (verbmem, knowmem)."""
    return np.array([100.0 * rouge_l_f1(p, r) for p, r in zip(predictions, references, strict=True)])
