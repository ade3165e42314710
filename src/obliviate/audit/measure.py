"""What every attack measures on a model: how likely it finds a fact's value after a prompt, and greedy answers.

`value_prob(model, tok, prompts, targets)` is the per-item P̃ = exp(mean log p) of the target tokens (the value, or
the whole answer when the value is not separable) given the prompt tokens, read from the evaluation's one
length-batched scoring pass (`eval.scoring.ScoreBook`). Higher means the model knows more. `qa_prompt` builds the
trained QA format up to the value; `greedy` decodes with the models package's batched generation.
"""
from __future__ import annotations

import numpy as np

from obliviate.eval.scoring import ScoreBook
from obliviate.models import (
    IGNORE,
    PROMPT_TEMPLATE,
    Encoded,
    generate_ids,
    pad_id,  # noqa: E402  (one rule for the padding id)
)

from .facts import Fact


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def bos(tok) -> list[int]:
    return [tok.bos_token_id] if tok.bos_token_id is not None else []


def qa_prompt(tok, question: str, prefix: str = "", context: str = "") -> list[int]:
    """bos + context + "Question: {q}\\nAnswer:" + " {prefix}": everything before the value's tokens.

    The answer is split at a space, so tokenizing prefix and value apart gives the tokens the whole answer has
    (byte-level BPE never merges across the space before a word).
    """
    head = bos(tok) + (ids(tok, context) if context else [])
    return head + ids(tok, PROMPT_TEMPLATE.format(question=question)) + (ids(tok, " " + prefix) if prefix else [])


def value_ids(tok, fact: Fact) -> list[int]:
    """The value's tokens as they follow the prompt (a leading space), plus EOS when the value ends the answer."""
    out = ids(tok, " " + fact.value)
    return out + [tok.eos_token_id] if not fact.separable and tok.eos_token_id is not None else out


def value_prob(model, tok, prompts: list[list[int]], targets: list[list[int]]) -> np.ndarray:
    """Per item exp(mean log p(target token | prompt, earlier target tokens)): (n,) floats in (0, 1]."""
    book = ScoreBook()
    handles = [book.add(Encoded(p + t, [IGNORE] * len(p) + t)) for p, t in zip(prompts, targets, strict=True)]
    stats = book.run(model, pad_id(tok)) if handles else []
    return np.array([np.exp(-stats[h].avg_nll) for h in handles], dtype=float)


def fact_probs(model, tok, facts: list[Fact], question=lambda f: f.question, context=lambda f: "") -> np.ndarray:
    """value_prob of each fact's value after its (possibly rephrased or prefixed) question and answer prefix."""
    prompts = [qa_prompt(tok, question(f), f.prefix, context(f)) for f in facts]
    return value_prob(model, tok, prompts, [value_ids(tok, f) for f in facts])


def greedy(model, tok, prompts: list[list[int]], max_new: int, batch_size: int = 32) -> list[str]:
    """Greedy continuations (cut at EOS), decoded without special tokens."""
    out = generate_ids(model, prompts, [max_new] * len(prompts), pad_id(tok), tok.eos_token_id, batch_size)
    return [tok.decode(g, skip_special_tokens=True) for g in out]
