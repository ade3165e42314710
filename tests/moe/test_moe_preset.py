"""The `moe` preset: a Mixtral-style model that builds, trains (with the router's load-balancing loss), memorises
the training answers, and survives a save/load round trip; and the routing statistics on hand-built routings."""
from __future__ import annotations

import math

import pytest
import torch

from obliviate.models import build_model, load, n_params, save
from obliviate.models.moe import assignment_shift, moe_blocks, router_entropy, routing
from obliviate.models.train import _step


def test_moe_preset_builds_mixtral_with_fused_experts(tokenizer):
    model = build_model("moe", tokenizer, seed=1)
    assert type(model).__name__ == "MixtralForCausalLM"
    assert n_params(model) < 400_000
    blocks = moe_blocks(model)
    assert [b.layer for b in blocks] == [0, 1]
    assert all(b.n_experts == 4 and b.top_k == 2 for b in blocks)
    params = dict(model.named_parameters())
    assert params[blocks[0].router_weight].shape == (4, 64)
    assert {tuple(params[n].shape) for n in blocks[0].expert_params} == {(4, 176, 64), (4, 64, 88)}
    again = build_model("moe", tokenizer, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    assert moe_blocks(build_model("tiny", tokenizer)) == []


def test_train_step_adds_the_router_load_balancing_loss(tokenizer, qa_records):
    """Same batch, same weights: a larger aux coefficient changes the routers' update, the answer loss is the same."""
    from obliviate.models import collate, encode_qa

    batch = collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in qa_records[:6]],
                    tokenizer.pad_token_id)
    routers = {}
    for coef in (0.0, 1.0):
        model = build_model("moe", tokenizer, seed=0)
        model.config.router_aux_loss_coef = coef
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        loss, n_tok = _step(model, batch, opt, sched, grad_clip=0.0)
        routers[coef] = (loss, model.model.layers[0].mlp.gate.weight.detach().clone())
    assert routers[0.0][0] == pytest.approx(routers[1.0][0])  # the returned loss is the answer NLL alone
    assert not torch.equal(routers[0.0][1], routers[1.0][1])


def test_moe_trains_and_round_trips(tmp_path, tokenizer, moe_model, moe_trained_state):
    log = moe_trained_state[1]
    assert log["epochs"][-1]["loss"] < log["epochs"][0]["loss"] / 3
    save(moe_model, tokenizer, tmp_path)
    loaded, tok2 = load(tmp_path)
    assert type(loaded).__name__ == "MixtralForCausalLM" and len(tok2) == len(tokenizer)
    ids = torch.tensor([tokenizer("Question: Where was Ada Vale3 born?")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(moe_model.eval()(input_ids=ids).logits, loaded(input_ids=ids).logits)


def test_routing_drops_padding(tokenizer, moe_model, qa_records):
    from obliviate.models import collate, encode_qa

    enc = [encode_qa(tokenizer, r["question"], r["answer"]) for r in qa_records[:3]]
    probs = routing(moe_model, [collate(enc, tokenizer.pad_token_id)])
    assert set(probs) == {0, 1}
    assert probs[0].shape == (sum(len(e) for e in enc), 4)
    assert torch.allclose(probs[1].sum(-1), torch.ones(len(probs[1])))


def test_router_entropy_and_assignment_shift_known_answers():
    """Uniform over 4 experts: entropy ln 4; one-hot: 0. Top-2 sets {0,1} vs {0,2}: Jaccard 1/3, shift 2/3;
    identical sets: shift 0; mean over the two tokens: 1/3."""
    uniform, onehot = torch.full((2, 4), 0.25), torch.tensor([[1.0, 0, 0, 0]])
    assert router_entropy(uniform) == pytest.approx(math.log(4))
    assert router_entropy(onehot) == pytest.approx(0.0, abs=1e-6)
    before = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    after = torch.tensor([[0.4, 0.1, 0.3, 0.2], [0.35, 0.3, 0.25, 0.1]])
    assert assignment_shift(before, before, 2) == 0.0
    assert assignment_shift(before, after, 2) == pytest.approx((2 / 3 + 0) / 2)


def test_unknown_preset_lists_moe(tokenizer):
    from obliviate.errors import ModelError

    with pytest.raises(ModelError, match="available: tiny, small, moe"):
        build_model("mixtral", tokenizer)


@pytest.mark.slow
def test_moe_recipe_memorises_a_persons_corpus(tmp_path):
    """The preset's recipe (PRESET_RECIPES["moe"]) on a 20-person, 6-fact corpus reaches greedy exact answers >= 95%
    before its epoch cap, like the dense presets (measured: 0.975 at epoch 20; ~70 s on a loaded core)."""
    from obliviate.data.persons import generate
    from obliviate.models.corpus import train_on_corpus

    generate(tmp_path / "corpus", persons=20, facts=6, holdout=6, seed=0)
    log = train_on_corpus(tmp_path / "corpus", "full", tmp_path / "moe", preset="moe", progress=False)
    assert log["memorised"] is True, log["accuracy"]
