"""Shared fixtures: a small tokenizer and tiny model built locally (no hub access), and a small persons corpus."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)  # the CI machine has 2 cores and runs 2 test workers


@pytest.fixture(scope="session")
def qa_records():
    cities = ["Oslo", "Lima", "Pune", "Kyiv", "Baku"]
    jobs = ["baker", "pilot", "nurse", "judge", "tailor"]
    return [
        {"question": f"Where was Ada Vale{i} born?", "answer": f"Ada Vale{i} was born in {cities[i % 5]}.",
         "person": i, "id": f"full:{2 * i}"}
        for i in range(10)
    ] + [
        {"question": f"What does Ada Vale{i} do?", "answer": f"Ada Vale{i} works as a {jobs[(i * 3) % 5]}.",
         "person": i, "id": f"full:{2 * i + 1}"}
        for i in range(10)
    ]


@pytest.fixture(scope="session")
def tokenizer(qa_records):
    from obliviate.models import train_tokenizer

    texts = [r["question"] for r in qa_records] + [r["answer"] for r in qa_records]
    return train_tokenizer(texts + ["Question: \nAnswer:"], vocab_size=400)


@pytest.fixture()
def tiny_model(tokenizer):
    from obliviate.models import build_model

    return build_model("tiny", tokenizer, seed=0)
