"""Token Recycling gives plain greedy decoding's tokens exactly: many prompts, batch sizes 1/4/16, short and long
budgets, an untrained model (flat logits, frequent near-ties) and one with a warm adjacency; the switch turns it
off; the draft tree's mask and the greedy walk on a hand-built case."""
from __future__ import annotations

import pytest
import torch

from obliviate.models import build_model, generate_ids, prompt_ids
from obliviate.models import recycling as R


@pytest.fixture(scope="module")
def prompts(tokenizer, qa_records):
    qs = [prompt_ids(tokenizer, r["question"]) for r in qa_records]
    ans = [tokenizer(" " + r["answer"], add_special_tokens=False)["input_ids"] for r in qa_records]
    return qs[::2] + [q + a[:k] for q, a in zip(qs[1::2], ans[1::2], strict=True) for k in (1, 3)]  # 30, many lengths


def _both(model, tokenizer, prompts, budgets, bs):
    args = (model, prompts, budgets, tokenizer.pad_token_id, tokenizer.eos_token_id, bs)
    return generate_ids(*args, recycle=False), generate_ids(*args, recycle=True)


@pytest.mark.parametrize("bs", [1, 4, 16])
def test_bit_identical_to_plain_greedy(tokenizer, prompts, bs):
    model = build_model("tiny", tokenizer, seed=bs)
    budgets = [3 + (i * 7) % 18 for i in range(len(prompts))]
    chosen = prompts if bs == 16 else prompts[::2] if bs == 4 else prompts[::5]
    budgets = budgets[:len(chosen)]
    plain, recycled = _both(model, tokenizer, chosen, budgets, bs)
    assert recycled == plain
    assert all(len(g) == b for g, b in zip(plain, budgets, strict=False))  # untrained: never stops early


@pytest.mark.parametrize("name", sorted(R.TREES))
def test_bit_identical_with_every_tree(tokenizer, prompts, name, monkeypatch):
    monkeypatch.setattr("obliviate.models.scoring.tree_for", lambda b, p: R._TREES[name])
    model = build_model("tiny", tokenizer, seed=7)
    plain, recycled = _both(model, tokenizer, prompts[::2], [12] * len(prompts[::2]), 4)
    assert recycled == plain


def test_tree_size_follows_the_forwards_cost():
    """wide for a tiny model at batch 1, narrower as batch x params grows, none (plain decoding) past the budget."""
    assert R.tree_for(1, 160_000) is R._TREES["wide"]
    assert R.tree_for(32, 160_000) is R._TREES["medium"]
    assert R.tree_for(1, 3_700_000) is R._TREES["wide"]
    assert R.tree_for(4, 3_700_000) is None


def test_bit_identical_when_rows_stop_early(tokenizer, prompts):
    """A model whose EOS logit is raised stops at different steps per row: finished rows leave the batch. A second
    recycled run starts from the adjacency the first one filled (more drafts accepted): the same tokens again."""
    model = build_model("tiny", tokenizer, seed=5)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] *= 40  # tied: also the EOS embedding
    plain, recycled = _both(model, tokenizer, prompts, [16] * len(prompts), 8)
    assert recycled == plain
    assert len({len(g) for g in plain}) > 1
    again = generate_ids(model, prompts, [16] * len(prompts), tokenizer.pad_token_id, tokenizer.eos_token_id, 8,
                         recycle=True)
    assert again == plain


def test_ties_go_back_to_plain_decoding(tokenizer, prompts, monkeypatch):
    """With a margin threshold no logit gap can pass, every row is decided by plain decoding: same tokens."""
    monkeypatch.setattr(R, "TIE_MARGIN", float("inf"))
    model = build_model("tiny", tokenizer, seed=2)
    ids, mask = (torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))
    assert R.recycled_greedy(model, ids, mask, 4, tokenizer.eos_token_id)[1] == [True]
    plain, recycled = _both(model, tokenizer, prompts[:8], [6] * 8, 4)
    assert recycled == plain


def test_switch(monkeypatch, tokenizer, prompts):
    monkeypatch.setenv("OBLIVIATE_TOKEN_RECYCLING", "0")
    assert not R.recycling_default()
    called = []
    monkeypatch.setattr("obliviate.models.scoring.recycled_greedy", lambda *a, **k: called.append(1))
    generate_ids(build_model("tiny", tokenizer), prompts[:2], [3, 3], tokenizer.pad_token_id, None)
    assert not called
    monkeypatch.setenv("OBLIVIATE_TOKEN_RECYCLING", "1")
    assert R.recycling_default()


def test_tree_mask_and_walk():
    """Tree: root 0; children 1 (rank 0), 2 (rank 1); 3 under 1. Node 3 sees 0, 1, 3. With node tokens
    [10, 11, 12, 13] and argmaxes [11, 13, 99, 42]: root predicts 11 = node 1, node 1 predicts 13 = node 3: the
    path is 0, 1, 3 and the accepted tokens are 11, 13, 42."""
    tree = R.Tree.build([(0,), (1,), (0, 0)])
    assert tree.visible[3].nonzero().flatten().tolist() == [0, 1, 3]
    assert tree.depth.tolist() == [0, 1, 1, 2]
    tok = torch.tensor([[10, 11, 12, 13], [10, 11, 12, 13]])
    pred = torch.tensor([[11, 13, 99, 42], [12, 0, 7, 0]])
    path = R._walk(tok, pred, tree)
    assert path.tolist() == [[0, 1, 3], [0, 2, -1]]


def test_config_switches_reach_the_evaluation(monkeypatch):
    """eval.token_recycling / eval.packed_scoring: parsed from a spec (default on) and handed to every scoring pass
    of `evaluate` (model and oracle)."""
    from obliviate.eval import suite
    from obliviate.spec import load_spec

    base = {"model": "m", "data": "d", "method": "npo", "out": "o"}
    assert load_spec(base).eval.token_recycling and load_spec(base).eval.packed_scoring
    off = load_spec({**base, "eval": {"token_recycling": False, "packed_scoring": False}}).eval
    assert not off.token_recycling and not off.packed_scoring
    seen = []

    def fake(model, tok, plan, batch_size=32, recycle=None, packed=None):
        seen.append((recycle, packed))
        raise RuntimeError("stop")

    monkeypatch.setattr(suite, "score_model", fake)
    monkeypatch.setattr(suite, "build_plan", lambda *a, **k: type("P", (), {"truth": {}, "mia": None})())
    with pytest.raises(RuntimeError, match="stop"):
        suite.evaluate(object(), None, None, suite="tofu", recycle=False, packed=False)
    assert seen == [(False, False)]


def test_wrappers_run_plainly(tokenizer):
    """A wrapper that acts on each prompt's own forward (ECO guard, O3's gate) shows the base model's config but
    must not get drafts or packed rows: only the plain HF model is supported."""
    model = build_model("tiny", tokenizer, seed=0)

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

    assert R.supports(model) and not R.supports(Wrapper(model))
