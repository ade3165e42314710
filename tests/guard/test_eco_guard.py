"""The ECO guard: threshold calibration, bit-identity of unflagged prompts, corruption only where flagged, save/load,
the σ search, and bad input. A stub classifier (flags prompts naming one person) keeps these tests free of the
sentence encoder; `test_classifier_meets_its_fpr_on_held_out_prompts` uses the real one."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from obliviate.errors import DataError, ModelError
from obliviate.guard import Guard, GuardedModel, conformal_threshold, search_sigma, vocab_sha256
from obliviate.guard.classifier import PromptClassifier
from obliviate.models import collate, encode_qa, pad_id, prompt_ids


class NameClassifier(PromptClassifier):
    """Flags every prompt that contains `Vale1` (Ada Vale1, Ada Vale10..): a stand-in for the MiniLM head."""

    def flags(self, prompts):
        return np.array(["Vale1" in p for p in prompts], dtype=bool)


def stub_guard(tokenizer, sigma=1.0, mode="noise") -> Guard:
    return Guard(NameClassifier((0.0,) * 384, 0.0, 0.5, 0.05), sigma, vocab_sha256(tokenizer), mode)


def batch(tokenizer, records):
    return collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in records], pad_id(tokenizer))


def test_conformal_threshold_known_answer():
    """Scores 0.1..1.0 (n = 10), fpr 0.2: k = ⌈11·0.8⌉ = 9, τ = 0.9; one score of ten (1.0) lies above it."""
    scores = [round(0.1 * i, 1) for i in range(1, 11)]
    assert conformal_threshold(scores, 0.2) == pytest.approx(0.9)
    assert conformal_threshold(scores[:3], 0.2) == math.inf  # 3 scores cannot promise 20%: flag nothing
    with pytest.raises(DataError, match="fpr"):
        conformal_threshold(scores, 0.0)


def test_conformal_threshold_meets_its_fpr_on_held_out_scores():
    """Calibrated on 500 negatives, the rate above τ on 20,000 new ones stays at most fpr (+ sampling slack)."""
    rng = np.random.default_rng(0)
    for fpr in (0.01, 0.05, 0.2):
        tau = conformal_threshold(rng.beta(2, 5, 500), fpr)
        assert float(np.mean(rng.beta(2, 5, 20_000) > tau)) <= fpr + 0.01


def test_unflagged_prompts_are_bit_identical(tiny_model, tokenizer, qa_records):
    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer, sigma=5.0))
    plain = [r for r in qa_records if "Vale1" not in r["question"]][:6]
    b = batch(tokenizer, plain)
    with torch.no_grad():
        want = tiny_model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        got = guarded(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    assert torch.equal(want, got)
    prompts = [prompt_ids(tokenizer, r["question"]) for r in plain[:3]]
    from obliviate.models import generate_ids

    args = ([8] * 3, pad_id(tokenizer), tokenizer.eos_token_id)
    assert generate_ids(guarded, prompts, *args) == generate_ids(tiny_model, prompts, *args)


def test_corruption_applies_only_to_flagged_prompts(tiny_model, tokenizer, qa_records):
    """In a mixed batch the flagged row's logits move; every other row is bit-identical to the unguarded model."""
    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer, sigma=5.0))
    rows = [r for r in qa_records if r["person"] in (1, 2, 3)][:6]
    flagged = ["Vale1" in r["question"] for r in rows]
    b = batch(tokenizer, rows)
    mask = guarded.corruption_mask(b["input_ids"], b["attention_mask"])
    assert mask.any(dim=1).tolist() == flagged
    answer_start = (b["labels"] != -100).int().argmax(dim=1)
    assert all(not mask[i, answer_start[i]:].any() for i in range(len(rows)))  # never an answer token
    with torch.no_grad():
        want = tiny_model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        got = guarded(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    for i, f in enumerate(flagged):
        assert torch.equal(want[i], got[i]) != f
    assert guarded.stats["flagged"] == 2 * sum(flagged)  # two calls: corruption_mask, then forward


def test_zero_mode_zeroes_the_selected_embeddings(tiny_model, tokenizer, qa_records):
    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer, mode="zero"))
    seen = []
    h = tiny_model.get_input_embeddings().register_forward_hook(lambda m, i, o: seen.append(o))
    b = batch(tokenizer, [r for r in qa_records if "Vale1" in r["question"]][:1])
    mask = guarded.corruption_mask(b["input_ids"], b["attention_mask"])
    with torch.no_grad():
        guarded(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    h.remove()
    # hooks run in order: ours (registered first) corrupted the output the second hook saw
    assert torch.count_nonzero(seen[0][mask]) == 0 and torch.count_nonzero(seen[0][~mask]) > 0


def test_noise_is_the_same_for_a_prompt_in_any_batch(tiny_model, tokenizer, qa_records):
    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer, sigma=2.0))
    target = [r for r in qa_records if r["question"].startswith("Where was Ada Vale1 ")]
    alone, mixed = batch(tokenizer, target), batch(tokenizer, target + qa_records[:2])
    n = alone["input_ids"].shape[1]
    with torch.no_grad():
        a = guarded(input_ids=alone["input_ids"], attention_mask=alone["attention_mask"]).logits[0]
        m = guarded(input_ids=mixed["input_ids"], attention_mask=mixed["attention_mask"]).logits[0, :n]
    torch.testing.assert_close(a, m)


def test_save_load_round_trip(tiny_model, tokenizer, qa_records, tmp_path):
    from obliviate.guard import load_guarded
    from obliviate.models import save

    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer, sigma=3.0))
    save(guarded, tokenizer, tmp_path)  # model weights, tokenizer, and guard/guard.json beside them
    assert (tmp_path / "guard" / "guard.json").is_file()
    # the stub head is saved as numbers; load it back as the stub to compare the outputs
    loaded = Guard.load(tmp_path)
    assert loaded.to_json() == guarded.guard.to_json()
    model2, tok2 = load_guarded(str(tmp_path))
    assert isinstance(model2, GuardedModel) and model2.guard.sigma == 3.0
    g2 = GuardedModel(model2.remove(), tok2, stub_guard(tok2, sigma=3.0))
    b = batch(tokenizer, qa_records[:4])
    with torch.no_grad():
        torch.testing.assert_close(guarded(**{k: b[k] for k in ("input_ids", "attention_mask")}).logits,
                                   g2(**{k: b[k] for k in ("input_ids", "attention_mask")}).logits)


def test_bad_input(tiny_model, tokenizer, tmp_path):
    from obliviate.models import train_tokenizer

    other = train_tokenizer(["an entirely different vocabulary of words"], vocab_size=300)
    with pytest.raises(ModelError, match="another tokenizer"):
        GuardedModel(tiny_model, other, stub_guard(tokenizer))
    guarded = GuardedModel(tiny_model, tokenizer, stub_guard(tokenizer))
    with pytest.raises(DataError, match="input_ids"):
        guarded(inputs_embeds=torch.zeros(1, 3, 8))
    with pytest.raises(DataError, match="at least one token"):
        guarded(input_ids=torch.zeros((1, 0), dtype=torch.long))
    with pytest.raises(DataError, match="guard.json"):
        Guard.load(tmp_path)
    (tmp_path / "guard.json").write_text('{"kind": "sisa"}')
    with pytest.raises(DataError, match="not an ECO guard"):
        Guard.load(tmp_path)
    with pytest.raises(DataError, match="sigma"):
        stub_guard(tokenizer, sigma=-1.0)


def test_empty_request_is_refused(persons_splits):
    import dataclasses

    from obliviate.guard import prompt_sets

    with pytest.raises(DataError, match="forget request is empty"):
        prompt_sets(dataclasses.replace(persons_splits, forget=[]))


def test_sigma_search_reaches_its_target():
    """f(σ) = exp(−σ) and target 0.3: the answer is σ = −ln 0.3 ≈ 1.204; the search starts at σ = 0.1."""
    sigma, trace = search_sigma(lambda s: math.exp(-s), 0.3, 0.1, steps=12, tol=0.005)
    assert abs(math.exp(-sigma) - 0.3) < 0.02 and trace[0]["sigma"] == pytest.approx(0.1)


def test_sigma_search_stops_on_a_plateau():
    """f(σ) = 0.3 + 0.7·exp(−σ) never reaches 0.03: the search stops once a step gains < 0.005 (σ ≈ e² ≈ 7.4 from
    σ0 = 0.14, where f is 0.3004) instead of running σ up to e^8·σ0."""
    sigma, trace = search_sigma(lambda s: 0.3 + 0.7 * math.exp(-s), 0.03, 0.14, steps=12)
    assert trace[-1].get("stop") == "plateau" and 1.0 < sigma < 60


def test_classifier_meets_its_fpr_on_held_out_prompts(persons_splits):
    """The real MiniLM classifier on the persons corpus: held-out negatives (retain, neighbour, holdout and
    unrelated prompts never used to fit or calibrate) are flagged at most at the calibrated rate (+ slack for the
    small test set), and the forget questions themselves are flagged."""
    from obliviate.guard import fit_classifier, prompt_sets
    from obliviate.guard.fit import held_out_rates

    sets = prompt_sets(persons_splits)
    clf = fit_classifier(sets["positives"], sets["negatives"], sets["calibration"], fpr=0.1)
    rates = held_out_rates(clf, sets)
    negatives = [q for k, v in sets.items() if k.startswith("test_") for q in v]
    assert float(np.mean(clf.flags(negatives))) <= 0.1 + 0.1
    assert rates["forget_recall"]["value"] >= 0.9
    assert PromptClassifier.from_json(clf.to_json()).threshold == pytest.approx(clf.threshold)


def test_report_marks_guard_rows():
    """The report reads the `guard` block of results.json and badges the row: the weights are unchanged."""
    from obliviate.report import build_html
    from obliviate.results import build_results, env_info

    guarded = build_results({}, {}, env=env_info(), name="eco", track="llm",
                            guard={"kind": "eco", "weights unchanged": True})
    plain = build_results({}, {}, env=env_info(), name="npo", track="llm")
    page = build_html([guarded, plain])
    assert page.count("eco guard: weights unchanged") == 1
