"""Prune first, then unlearn: magnitude (per tensor) and N:M pruning, held at exactly 0 through unlearning."""
from __future__ import annotations

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.masks import prune as P
from obliviate.masks.options import prepare

OVERRIDES = {"engine.progress": False, "train.batch_size": 4, "train.max_steps": 3, "train.weight_decay": 0.1}


@pytest.mark.parametrize("bad, rule", [("1:1", "0 < N < M"), ("3:2", "0 < N < M"), ("magnitude:1", r"\[0, 1\)"),
                                       ("magnitude:x", "must be a number"), ("wanda:0.5", "unknown form")])
def test_bad_prune_forms(bad, rule):
    with pytest.raises(ConfigError, match=rule):
        P.parse_prune(bad)


def test_nm_keep_by_hand():
    """Groups of 4 along the input dim: [1, −4, 2, 0.5] keeps −4 and 2; [0, 3, −3, 1] keeps 3 and −3."""
    w = torch.tensor([[1.0, -4.0, 2.0, 0.5, 0.0, 3.0, -3.0, 1.0]])
    assert P.nm_keep(w, 2, 4).tolist() == [[False, True, True, False, False, True, True, False]]
    with pytest.raises(ConfigError, match="q_proj.weight has input dimension 8, not divisible by 3"):
        P.nm_keep(w, 1, 3, name="q_proj.weight")


def test_magnitude_prunes_each_linear_weight_but_not_head_or_embeddings(tiny_model):
    head = tiny_model.lm_head.weight.detach().clone()
    emb = tiny_model.get_input_embeddings().weight.detach().clone()
    keep = P.prune(tiny_model, "magnitude:0.5")
    assert keep and "lm_head.weight" not in keep and all(".mlp." in n or ".self_attn." in n for n in keep)
    for name, w in P.prunable(tiny_model).items():
        assert int((w == 0).sum()) == round(0.5 * w.numel()), name
    assert torch.equal(tiny_model.lm_head.weight, head) and torch.equal(tiny_model.get_input_embeddings().weight, emb)


def _groups_of_4_have_two_zeros(model) -> bool:
    return all(((w.detach().reshape(-1, 4) == 0).sum(1) >= 2).all() for w in P.prunable(model).values())


@pytest.mark.parametrize("method", ["npo", "grad_diff"])
def test_2_4_pattern_holds_after_unlearning(method, tiny_model, tokenizer, qa_records):
    from obliviate.engine import unlearn

    forget, retain = qa_records[:4], qa_records[4:]
    masks, conv = prepare(tiny_model, tokenizer, forget, retain, method, OVERRIDES, prune="2:4")
    assert _groups_of_4_have_two_zeros(tiny_model) and "2:4 semi-structured" in conv["mask"]
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    model, _ = unlearn(tiny_model, tokenizer, forget, retain, method, OVERRIDES, masks=masks)
    assert _groups_of_4_have_two_zeros(model) and P.sparsity(model) == 0.5
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())  # the rest did move


def test_magnitude_sparsity_as_asked_after_unlearning_with_a_mask(tiny_model, tokenizer, qa_records):
    """prune magnitude:0.5 with saliency:0.5 on top: still exactly half of every pruned tensor is 0 afterwards."""
    from obliviate.engine import unlearn

    forget, retain = qa_records[:4], qa_records[4:]
    masks, conv = prepare(tiny_model, tokenizer, forget, retain, "npo", OVERRIDES, mask="saliency:0.5",
                          prune="magnitude:0.5")
    assert "sparsity 0.5 per tensor" in conv["mask"] and "saliency" in conv["mask"]
    model, _ = unlearn(tiny_model, tokenizer, forget, retain, "npo", OVERRIDES, masks=masks)
    for name, w in P.prunable(model).items():
        assert int((w == 0).sum()) == round(0.5 * w.numel()), name
