"""Shared fixtures: a small tokenizer and tiny model built locally (no hub access); a small persons corpus with a
tiny target trained on all of it and a tiny oracle trained without the forget persons (same tokenizer, recipe and
seed); and a TOFU subset."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

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


# -- a persons corpus with a trained tiny target and oracle (evaluation, the spine, audits) ---------------

TOFU = Path(os.environ.get("OBLIVIATE_TOFU_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "tofu"))
EPOCHS = 25


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    from obliviate.data.persons import generate

    out = tmp_path_factory.mktemp("eval") / "persons"
    generate(out, persons=20, facts=6, holdout=6, seed=0)
    return out


@pytest.fixture(scope="session")
def persons_splits(corpus):
    from obliviate.data import load_splits

    return load_splits(corpus, "forget10")


@pytest.fixture(scope="session")
def trained(corpus, persons_splits, tmp_path_factory):
    """(tokenizer, target, oracle, model_root) on the 20-person corpus (see `train_target_and_oracle`)."""
    from tiny_models import train_target_and_oracle

    return train_target_and_oracle(corpus, persons_splits, tmp_path_factory.mktemp("models"), EPOCHS)


@pytest.fixture(scope="session")
def tofu_splits():
    """forget01 (40 items, all with perturbed answers) and slices of the other TOFU splits."""
    from obliviate.data import load_splits

    s = load_splits(f"tofu:{TOFU}", "forget01")
    return dataclasses.replace(s, retain=s.retain[:12], retain_perturbed=s.retain_perturbed[:8],
                               real_authors=s.real_authors[:8], world_facts=s.world_facts[:8])


@pytest.fixture(scope="session")
def tofu_models(tofu_splits):
    """A tiny untrained model and a differently seeded 'oracle', with a tokenizer trained on the subset."""
    from obliviate.models import build_model, train_tokenizer

    s = tofu_splits
    texts = [r["question"] + " " + r["answer"] for r in s.forget + s.retain + s.real_authors + s.world_facts]
    texts += [p for r in s.forget_perturbed for p in r["perturbed_answer"]]
    tok = train_tokenizer(texts, vocab_size=400)
    return tok, build_model("tiny", tok, seed=0), build_model("tiny", tok, seed=1)
