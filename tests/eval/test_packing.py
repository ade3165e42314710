"""Packed scoring: sequences that share a prompt are scored as one token tree with the prompt run once, and every
per-item value equals the plain padded pass (one row per sequence) to float rounding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.eval.packing import pack_rows, packed_default, tree_mask
from obliviate.eval.scoring import ScoreBook
from obliviate.models import IGNORE, Encoded, build_model, encode_qa, encode_text


def qa(prompt: list[int], answer: list[int]) -> Encoded:
    return Encoded(prompt + answer, [IGNORE] * len(prompt) + answer)


def test_rows_are_token_trees():
    """Prompt [1, 2, 3] with answers [4, 5, 9] and [4, 6, 9] is one row 1 2 3 4 5 9 6 9: the shared 4 once, the
    second 9 at depth 5 (position id 5) after 6; answer 2's labels 4, 6, 9 are predicted at positions 2, 3, 6. A
    text scored from its second token (a bare BOS prompt) and an encoding with a label gap are rows of their own."""
    items = [qa([1, 2, 3], [4, 5, 9]), qa([1, 2, 3], [4, 6, 9]), Encoded([0, 7, 8], [IGNORE, 7, 8]),
             Encoded([1, 2, 3, 4], [IGNORE, 2, IGNORE, 4])]
    rows = pack_rows(items)
    assert len(rows) == 3
    tree = next(r for r in rows if r.items == [0, 1])
    assert tree.ids == [1, 2, 3, 4, 5, 9, 6, 9]
    assert tree.pos == [0, 1, 2, 3, 4, 5, 4, 5]
    assert tree.parent == [-1, 0, 1, 2, 3, 4, 3, 6]
    assert tree.scored == [([2, 3, 4], [4, 5, 9]), ([2, 3, 6], [4, 6, 9])]
    gap = next(r for r in rows if r.items == [3])
    assert gap.scored == [([0, 2], [2, 4])]
    mask = tree_mask([tree.parent, [-1, 0]], 8, torch.float32)[:, 0] == 0  # (B, T, T) True where visible
    assert mask[0, 7].nonzero().flatten().tolist() == [0, 1, 2, 3, 6, 7]
    assert mask[0, 5].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert mask[1, 1].nonzero().flatten().tolist() == [0, 1]
    assert mask[1, 5].nonzero().flatten().tolist() == [5]  # padding sees itself only


def test_big_groups_are_split_into_rows(monkeypatch):
    from obliviate.eval import packing

    monkeypatch.setattr(packing, "PACK_TOKENS", 8)
    rows = pack_rows([qa([1, 2, 3], [10 + i, 9]) for i in range(5)])
    assert [len(r) for r in rows] == [7, 7, 5] and sum(len(r.items) for r in rows) == 5


def test_switch(monkeypatch):
    monkeypatch.setenv("OBLIVIATE_PACKED_SCORING", "0")
    assert not packed_default()
    monkeypatch.setenv("OBLIVIATE_PACKED_SCORING", "1")
    assert packed_default()


def _compare(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.logp, y.logp, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x.mu, y.mu, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x.sigma, y.sigma, rtol=1e-4, atol=1e-5)
        assert (x.correct == y.correct).all()


def test_packed_equals_padded_on_mixed_sequences(tokenizer, qa_records):
    """QA items with shared questions, raw texts and a lone item: the same TokenStats either way."""
    model = build_model("tiny", tokenizer, seed=0)
    book = ScoreBook()
    for r in qa_records[:6]:
        for ans in (r["answer"], r["answer"].replace("born", "raised"), "Nobody knows."):
            book.add(encode_qa(tokenizer, r["question"], ans))
    for r in qa_records[6:9]:
        book.add(encode_text(tokenizer, r["answer"], eos=False))
    _compare(book.run(model, tokenizer.pad_token_id, packed=False), book.run(model, tokenizer.pad_token_id))


def test_every_metric_equal_packed_or_padded(trained, persons_splits, monkeypatch):
    """Every log-prob metric of the suite (prob, truth ratio, prob_norm, memorization, MIA) per item, packed vs the
    plain padded pass (OBLIVIATE_PACKED_SCORING=0), on a trained target."""
    from obliviate.eval.knowledge import qa_metrics
    from obliviate.eval.memorization import memorization_metrics
    from obliviate.eval.plan import build_plan
    from obliviate.eval.privacy import mia_metrics
    from obliviate.models import pad_id

    tok, target, _, _ = trained
    plan = build_plan(tok, persons_splits, "all", generate=False)
    values = []
    for flag in ("0", "1"):
        monkeypatch.setenv("OBLIVIATE_PACKED_SCORING", flag)
        stats = plan.book.run(target, pad_id(tok))
        m = qa_metrics(plan, stats, {}) | memorization_metrics(plan, stats, {}, None) | mia_metrics(plan, stats)
        values.append(m)
    plain, packed = values
    assert plain.keys() == packed.keys() and {"forget/truth_ratio", "mia/min_k_pp", "exact_memorization"} <= set(plain)
    for name in plain:
        np.testing.assert_allclose(packed[name]["per_item"], plain[name]["per_item"], rtol=1e-4, atol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_runs_in_the_models_dtype(tokenizer, qa_records, dtype):
    model = build_model("tiny", tokenizer, seed=0).to(dtype)
    book = ScoreBook()
    for ans in ("In Oslo.", "In Lima."):
        book.add(encode_qa(tokenizer, qa_records[0]["question"], ans))
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    for x, y in zip(book.run(model, 0, packed=False), book.run(model, 0), strict=True):
        np.testing.assert_allclose(x.logp, y.logp, atol=tol, rtol=tol)


def test_other_model_types_keep_the_padded_path(tokenizer, qa_records, monkeypatch):
    """Packing is the default only for model types whose attention takes the tree mask as given (Llama)."""
    from obliviate.eval import scoring

    model = build_model("tiny", tokenizer, seed=0)
    book = ScoreBook()
    book.add(encode_qa(tokenizer, qa_records[0]["question"], "In Oslo."))
    monkeypatch.setattr(scoring, "pack_rows", lambda items: pytest.fail("packed"))
    monkeypatch.setattr(model.config, "model_type", "other")
    assert book.run(model, tokenizer.pad_token_id)[0].logp.size > 0


@pytest.mark.parametrize("packed", [True, False])
def test_batches_stay_within_the_token_cap(tokenizer, monkeypatch, packed):
    """A small vocabulary no longer lifts the batch's token budget: with MAX_BATCH_TOKENS = 512 (the floor), 40
    prompts of 30 tokens each with 2 answers of 20 (one row of 70 packed, or two rows of 50) forward at most 512
    tokens (padded width x rows) per batch, and every item is still scored."""
    from obliviate.eval import scoring

    monkeypatch.setattr(scoring, "MAX_BATCH_TOKENS", 512)
    model = build_model("tiny", tokenizer, seed=0).eval()
    book = ScoreBook()
    for i in range(40):
        prompt = [1] + [(i + j) % 40 + 3 for j in range(29)]
        for a in range(2):
            book.add(qa(prompt, [(i * 3 + a + j) % 40 + 3 for j in range(20)]))
    sizes = []
    handle = model.register_forward_pre_hook(
        lambda _m, args, kw: sizes.append((kw.get("input_ids") if "input_ids" in kw else args[0]).numel()),
        with_kwargs=True)
    stats = book.run(model, tokenizer.pad_token_id, packed=packed)
    handle.remove()
    assert len(stats) == 80 and all(len(s.logp) == 20 for s in stats)
    assert max(sizes) <= 512 and len(sizes) > 1
