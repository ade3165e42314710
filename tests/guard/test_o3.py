"""O3: the orthogonality penalty (hand-derived), its gradient term, the OOD detector on toy features, the stream
on a tiny model (adapters save/load, gating, overlapping and empty requests refused)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.continual import (
    add_orthogonality,
    check_requests,
    fit_detector,
    orthogonality_penalty,
    penalty_grad,
)
from obliviate.errors import DataError


def test_orthogonality_penalty_hand_derived():
    """A_1 = [[1,0,0]], A_2 = [[0,2,0]] (module q), A_t = [[1,1,0],[0,0,3]] (q) and [[1,0]] (v, absent before).
    A_1 A_tᵀ = [[1, 0]] → 1; A_2 A_tᵀ = [[2, 0]] → 4; v contributes nothing; λ = 0.5 → 0.5·(1 + 4) = 2.5.
    Orthogonal row spaces give exactly 0: A_s = [[0,0,1]] vs A_t = [[1,1,0]]."""
    a_t = {"q": torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 3.0]]), "v": torch.tensor([[1.0, 0.0]])}
    prev = [{"q": torch.tensor([[1.0, 0.0, 0.0]])}, {"q": torch.tensor([[0.0, 2.0, 0.0]])}]
    torch.testing.assert_close(orthogonality_penalty(a_t, prev, 0.5), torch.tensor(2.5))
    zero = orthogonality_penalty({"q": torch.tensor([[1.0, 1.0, 0.0]])}, [{"q": torch.tensor([[0.0, 0.0, 1.0]])}])
    assert zero.item() == 0.0
    assert orthogonality_penalty(a_t, []).item() == 0.0


def test_penalty_gradient_is_autograd_of_the_penalty():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 6, generator=g, requires_grad=True)
    prev = [torch.randn(4, 6, generator=g), torch.randn(2, 6, generator=g)]
    orthogonality_penalty({"m": a}, [{"m": p} for p in prev], 0.3).backward()
    torch.testing.assert_close(a.grad, penalty_grad(a.detach(), prev, 0.3))


def test_add_orthogonality_adds_the_gradient_to_lora_a(tiny_model):
    """The hook finds the LoRA A matrices at the first forward pass with gradients and adds ∂P/∂A_t."""
    from obliviate.engine.lora import LoraSpec, apply_lora

    model = apply_lora(tiny_model, LoraSpec(r=2, targets=("q_proj",)))
    a_names = [n for n, p in model.named_parameters() if "lora_A" in n]
    from obliviate.continual.orthogonal import module_key

    prev = [{module_key(n): torch.ones(2, dict(model.named_parameters())[n].shape[1]) for n in a_names}]
    handle = add_orthogonality(model, prev, weight=1.0)
    ids = torch.tensor([[1, 5, 6, 7]])
    model(input_ids=ids).logits.sum().backward()
    with_hook = {n: p.grad.clone() for n, p in model.named_parameters() if "lora_A" in n}
    handle.remove()
    model.zero_grad()
    model(input_ids=ids).logits.sum().backward()
    params = dict(model.named_parameters())
    for n in a_names:
        want = penalty_grad(params[n].detach(), [prev[0][module_key(n)]], 1.0)
        torch.testing.assert_close(with_hook[n] - params[n].grad, want)
    assert len(handle.hooked) == len(a_names)


def test_detector_scores_in_and_out_of_distribution():
    """Toy features: 40 points around 0 in 8-d (σ = 1) vs points around 6·1: distances, τ, and the gate."""
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (40, 8))
    det = fit_detector(train)
    inside, outside = rng.normal(0, 1, (50, 8)), rng.normal(6, 1, (50, 8))
    assert det.scores(inside).mean() < det.tau < det.scores(outside).min()
    assert (det.weights(outside) == 0).all()  # far out: exactly 0, the base model runs
    assert np.mean(det.weights(inside) > 0.5) >= 0.9
    with pytest.raises(DataError, match="at least 3"):
        fit_detector(train[:2])


def test_requests_that_overlap_or_are_empty_are_refused():
    a = {"question": "Q1?", "answer": "A1."}
    b = {"question": "Q2?", "answer": "A2."}
    seen = check_requests([[a], [b]])
    assert sorted(seen.values()) == [1, 2]
    with pytest.raises(DataError, match="requests overlap"):
        check_requests([[a, b], [b]])
    with pytest.raises(DataError, match="request 1 and request 3"):
        check_requests([[dict(a)]], seen)  # a later request repeating an unlearned item
    with pytest.raises(DataError, match="empty request"):
        check_requests([[a], []])


@pytest.fixture(scope="module")
def stream(persons_splits, tmp_path_factory):
    """Two requests (persons) of the 20-person corpus on a tiny model trained briefly with its own tokenizer."""
    from obliviate.continual import fit_stream
    from obliviate.models import TrainRecipe, build_model, train, train_tokenizer

    s = persons_splits
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in s.forget + s.retain] + ["Question: \nAnswer:"],
                          vocab_size=400)
    model = build_model("tiny", tok, seed=0)
    train(model, tok, s.forget + s.retain[:30], [], TrainRecipe(preset="tiny", epochs=3, batch_size=16, lr=5e-3,
                                                                  eval_every=0, vocab_size=400), progress=False)
    persons = sorted({r["person"] for r in s.forget})
    reqs = [[r for r in s.forget if r["person"] == p] for p in persons[:2]]
    o3, log = fit_stream(model, tok, reqs, overrides={"train.max_steps": 3, "train.lr": 1e-2,
                                                      "train.batch_size": 4, "engine.progress": False},
                         lora={"r": 2, "alpha": 4, "targets": ["q_proj", "v_proj"]}, orth_weight=1.0)
    return model, tok, o3, log, reqs


def test_stream_gates_adapters_and_round_trips(stream, persons_splits, tmp_path):
    from obliviate.continual import load_o3
    from obliviate.models import collate, encode_qa, pad_id, save

    model, tok, o3, log, reqs = stream
    assert [e["request"] for e in log] == [1, 2] and log[0]["orthogonality"] == 0.0
    assert log[1]["orthogonality"] >= 0.0 and len(o3.adapters) == 2
    forget = collate([encode_qa(tok, r["question"], r["answer"]) for r in reqs[0]], pad_id(tok))
    w = o3.gate(forget["input_ids"], forget["attention_mask"])
    assert w is not None and (w[:, 0] > 0.5).float().mean() >= 0.5  # its own detector fires on request 1
    # a prompt no detector claims runs the base model bit-identically
    far = collate([encode_qa(tok, "zzzz qqqq xxxx?", "no.")], pad_id(tok))
    if o3.gate(far["input_ids"], far["attention_mask"]) is None:
        with torch.no_grad():
            assert torch.equal(o3(**{k: far[k] for k in ("input_ids", "attention_mask")}).logits,
                               model(**{k: far[k] for k in ("input_ids", "attention_mask")}).logits)
    save(o3, tok, tmp_path)
    loaded, tok2 = load_o3(tmp_path)
    with torch.no_grad():
        args = {k: forget[k] for k in ("input_ids", "attention_mask")}
        torch.testing.assert_close(loaded(**args).logits, o3(**args).logits)
    assert loaded.items_seen == o3.items_seen
    with pytest.raises(DataError, match="requests overlap"):
        from obliviate.continual import fit_stream

        fit_stream(model, tok, [reqs[0][:1]], previous=loaded)
