"""MoE fixtures: the `moe` preset trained for a few seconds on the shared QA records (so that routing and the
forget answers are learnt before unlearning). Each test gets a fresh copy."""
from __future__ import annotations

import pytest

MOE_RECIPE = dict(preset="moe", epochs=15, batch_size=10, lr=1e-2, bios=False, eval_every=0, eval_items=20)


@pytest.fixture(scope="session")
def moe_trained_state(tokenizer, qa_records):
    from obliviate.models import TrainRecipe, build_model, train

    model = build_model("moe", tokenizer, seed=0)
    log = train(model, tokenizer, qa_records, [], TrainRecipe(**MOE_RECIPE), progress=False)
    return {k: v.clone() for k, v in model.state_dict().items()}, log


@pytest.fixture()
def moe_model(tokenizer, moe_trained_state):
    from obliviate.models import build_model

    model = build_model("moe", tokenizer, seed=0)
    model.load_state_dict(moe_trained_state[0])
    return model
