"""UOE (engine/uoe.py): the anchor loss on hand-built router logits, the choice of expert, and a run that moves only
the chosen expert's slice (bit-identical elsewhere); bad input names the problem."""
from __future__ import annotations

import math

import pytest
import torch

from obliviate.engine import unlearn
from obliviate.engine.hooks import build_step_hooks
from obliviate.engine.uoe import UoeOptions, anchor_loss, choose, parse_uoe
from obliviate.errors import ConfigError, ModelError

RUN = {"train.max_steps": 4, "train.batch_size": 4, "train.weight_decay": 0.0, "engine.progress": False}


def test_anchor_loss_hand_values():
    """Expert 1. Row 0 logits (0, ln 3, 0, 0): p₁ = 3/6 → CE ln 2. Row 1 all 0: p₁ = 1/4 → CE ln 4. Row 2 is
    padding (mask 0), ignored. Mean = (ln 2 + ln 4)/2 = 1.5·ln 2."""
    logits = torch.tensor([[0.0, math.log(3), 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 0.0, 0.0]])
    mask = torch.tensor([True, True, False])
    torch.testing.assert_close(anchor_loss(logits, 1, mask), torch.tensor(1.5 * math.log(2)))
    torch.testing.assert_close(anchor_loss(logits[:1], 1, mask[:1]), torch.tensor(math.log(2)))


def test_choose_the_most_used_expert():
    scores = {0: torch.tensor([0.3, 0.3, 0.2, 0.2]), 1: torch.tensor([0.1, 0.2, 0.6, 0.1])}
    assert choose(scores, -1) == (1, 2)
    assert choose(scores, 0) == (0, 0)  # ties: the lower index
    with pytest.raises(ConfigError, match=r"uoe.layer: must be -1 or an MoE layer of this model \(\[0, 1\]\)"):
        choose(scores, 5)


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("train_router", [False, True])
def test_uoe_moves_only_the_chosen_expert(moe_model, tokenizer, qa_records, train_router):
    before = snapshot(moe_model)
    hooks = build_step_hooks(uoe={"train_router": train_router})
    model, log = unlearn(moe_model, tokenizer, qa_records[:4], qa_records[4:], "npo", RUN, step_hooks=hooks)
    chosen = log["config"]["step_hooks"][0]
    layer, e = chosen["chosen_layer"], chosen["chosen_expert"]
    assert all(math.isfinite(s["loss"]) and "uoe_anchor" in s for s in log["log"])
    prefix = f"model.layers.{layer}.mlp."
    moved_slices = []
    for name, p in model.named_parameters():
        diff = (p.detach() != before[name])
        if name in (prefix + "experts.gate_up_proj", prefix + "experts.down_proj") or (
                train_router and name == prefix + "gate.weight"):
            assert diff[e].any(), f"{name}[{e}] did not move"
            others = torch.cat([diff[:e], diff[e + 1:]])
            assert not others.any(), f"{name}: experts other than {e} moved"
            moved_slices.append(name)
        else:
            assert not diff.any(), f"{name} moved"
    assert len(moved_slices) == 2 + train_router


def test_uoe_anchor_keeps_the_expert_chosen(moe_model, tokenizer, qa_records):
    """With a strong anchor the chosen expert's mean router probability on the forget tokens does not fall."""
    from obliviate.engine.uoe import attribute
    from obliviate.models import collate, encode_qa

    forget = qa_records[:4]
    batch = [collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in forget], tokenizer.pad_token_id)]
    hooks = build_step_hooks(uoe="alpha=10")
    before = attribute(moe_model, batch)
    model, log = unlearn(moe_model, tokenizer, forget, qa_records[4:], "ga", RUN, step_hooks=hooks)
    c = log["config"]["step_hooks"][0]
    after = attribute(model, batch)
    assert after[c["chosen_layer"]][c["chosen_expert"]] >= before[c["chosen_layer"]][c["chosen_expert"]]


def test_uoe_on_a_dense_model_names_the_problem(tiny_model, tokenizer, qa_records):
    with pytest.raises(ModelError, match="LlamaForCausalLM has no Mixture-of-Experts layer"):
        unlearn(tiny_model, tokenizer, qa_records[:4], qa_records[4:], "npo", RUN, step_hooks=build_step_hooks(uoe=True))


def test_uoe_with_lora_is_refused(moe_model, tokenizer, qa_records):
    with pytest.raises(ConfigError, match="uoe: .* without --lora"):
        unlearn(moe_model, tokenizer, qa_records[:4], qa_records[4:], "npo", RUN, lora="r=2,alpha=4",
                step_hooks=build_step_hooks(uoe=True))


def test_parse_uoe_options_and_errors():
    assert parse_uoe(True) == UoeOptions()
    assert parse_uoe("layer=1,alpha=0.5,train_router=false") == UoeOptions(1, 0.5, False)
    with pytest.raises(ConfigError, match="uoe.expert: unknown key; valid keys: alpha, layer, train_router"):
        parse_uoe("expert=2")
    with pytest.raises(ConfigError, match="uoe.alpha: must be >= 0"):
        parse_uoe({"alpha": -1})
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_uoe("fast")


def test_spec_uoe_section(tmp_path):
    from obliviate.spec import load_spec

    base = {"model": "m", "data": "d", "method": "npo", "out": str(tmp_path)}
    assert load_spec({**base, "uoe": {"alpha": 2.0}}).uoe == {"alpha": 2.0}
    with pytest.raises(ConfigError, match="uoe: uoe.bogus: unknown key"):
        load_spec({**base, "uoe": {"bogus": 1}})
