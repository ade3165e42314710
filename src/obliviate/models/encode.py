"""Tokenize QA items and texts once, and collate them into padded batches.

A QA item becomes `[bos] + "Question: {q}\\nAnswer:" + " {a}" + [eos]` with labels only on the answer and EOS.
Attention masks come from sequence lengths, never from comparing ids with the pad id: a real EOS inside a prompt
stays visible.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

IGNORE = -100
PROMPT_TEMPLATE = "Question: {question}\nAnswer:"


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _bos(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str) -> list[int]:
    """BOS + the formatted question, ending right before the answer (used for generation)."""
    return _bos(tokenizer) + _ids(tokenizer, PROMPT_TEMPLATE.format(question=question))


def encode_qa(tokenizer: PreTrainedTokenizerBase, question: str, answer: str, max_length: int = 512) -> Encoded:
    """Prompt and answer are tokenized separately so the label boundary is exact."""
    prompt = prompt_ids(tokenizer, question)
    answer_ids = _ids(tokenizer, " " + answer.strip()) + [tokenizer.eos_token_id]
    ids = (prompt + answer_ids)[:max_length]
    labels = ([IGNORE] * len(prompt) + answer_ids)[:max_length]
    return Encoded(ids, labels)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str, max_length: int = 512, eos: bool = True) -> Encoded:
    """Plain text: every token after BOS is a label. eos: append an EOS label (training on biographies does, so a
    trained model learns where a text ends; the evaluation scores external raw texts without it)."""
    bos = _bos(tokenizer)
    body = _ids(tokenizer, text) + ([tokenizer.eos_token_id] if eos else [])
    ids = (bos + body)[:max_length]
    labels = ([IGNORE] * len(bos) + body)[:max_length]
    return Encoded(ids, labels)


def collate(batch: list[Encoded], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Pad to the longest item; returns input_ids, attention_mask, labels, each (B, T) long."""
    width = max(len(e) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e)
        sl = slice(0, n) if side == "right" else slice(width - n, width)
        ids[i, sl] = torch.tensor(e.input_ids)
        labels[i, sl] = torch.tensor(e.labels)
        mask[i, sl] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
