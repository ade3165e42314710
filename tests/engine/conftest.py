"""Engine fixtures: a tiny model trained for a few seconds on the shared QA records, so that the forget answers
are actually known (their NLL is low) before unlearning. Each test gets a fresh copy."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def trained_state(tokenizer, qa_records):
    from obliviate.models import TrainRecipe, build_model, train

    model = build_model("tiny", tokenizer, seed=0)
    cfg = TrainRecipe(preset="tiny", epochs=30, batch_size=10, lr=1e-2, bios=False, eval_every=0, eval_items=4)
    train(model, tokenizer, qa_records, [], cfg, progress=False)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture()
def trained(tokenizer, trained_state):
    from obliviate.models import build_model

    model = build_model("tiny", tokenizer, seed=0)
    model.load_state_dict(trained_state)
    return model


@pytest.fixture()
def split(qa_records):
    """(forget, retain): 4 forget records and 16 retain records."""
    return qa_records[:4], qa_records[4:]


@pytest.fixture()
def answer_nll():
    return _answer_nll


def _answer_nll(model, tokenizer, records) -> float:
    """Mean answer-token NLL of `records` under `model` (eval mode, no grad)."""
    from obliviate.models import collate, encode_qa, forward_logprobs

    batch = collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in records], tokenizer.pad_token_id)
    with torch.no_grad():
        out = forward_logprobs(model.eval(), batch)
    return float(-out.logp.sum() / out.mask.sum())
