"""Known-answer tests of the pure metrics: every expected value is derived by hand in the docstring."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from obliviate.errors import DataError, ObliviateError
from obliviate.eval import knowledge, memorization, privacy, stats
from obliviate.eval.rouge import rouge_l_f1, rouge_l_recall
from obliviate.results import bootstrap_ci, bootstrap_groups, percentile_ci, resample_indices


def close(actual, expected, tol=1e-9):
    assert_close(torch.tensor(float(actual), dtype=torch.float64),
                 torch.tensor(float(expected), dtype=torch.float64), atol=tol, rtol=0)


def test_rouge_l_recall_and_f1():
    """ref "the cat sat on the mat" (6 words), pred "the cat on mat": LCS = "the cat on mat" = 4 words.
    recall = 4/6; precision = 4/4; F1 = 2·1·(2/3) / (1 + 2/3) = 0.8."""
    close(rouge_l_recall("the cat on mat", "the cat sat on the mat"), 4 / 6)
    close(rouge_l_f1("the cat on mat", "the cat sat on the mat"), 0.8)


def test_rouge_stemmer_only_for_recall():
    """pred "the dogs were running", ref "the dog runs". Stemmed: "the dog were run" vs "the dog run": LCS 3 of 3
    reference words → recall 1. Unstemmed: LCS = "the" → P = 1/4, R = 1/3, F1 = 2·(1/12)/(7/12) = 2/7."""
    close(rouge_l_recall("the dogs were running", "the dog runs"), 1.0)
    close(rouge_l_f1("the dogs were running", "the dog runs"), 2 / 7)


def test_auc_counts_pairs():
    """members [0.9, 0.8, 0.3], non-members [0.5, 0.1]: of 6 pairs only (0.3, 0.5) is misordered → 5/6.
    A tie counts 1/2: members [0.5], non-members [0.5, 0.1] → (0.5 + 1)/2 = 0.75."""
    close(stats.auc([0.9, 0.8, 0.3], [0.5, 0.1]), 5 / 6)
    close(stats.auc([0.5], [0.5, 0.1]), 0.75)
    with pytest.raises(ObliviateError, match="non-member"):
        stats.auc([1.0], [])


def test_ks_pvalue():
    """[1,2,3] vs [4,5,6]: D = 1. Exact two-sided p: of the C(6,3) = 20 equally likely splits, 2 reach D = 1 (all of
    one sample below all of the other, either way) → p = 0.1. Identical samples: D = 0, p = 1."""
    d, p = stats.ks_test([1, 2, 3], [4, 5, 6])
    close(d, 1.0)
    close(p, 0.1, tol=1e-12)
    close(stats.ks_test([1, 2, 3], [1, 2, 3])[1], 1.0)


def test_harmonic_mean():
    """[1, 0.5, 0.25]: 3 / (1 + 2 + 4) = 3/7. A zero component makes it 0; a negative one is an error."""
    close(stats.harmonic_mean([1, 0.5, 0.25]), 3 / 7)
    close(stats.harmonic_mean([1, 0.0]), 0.0)
    with pytest.raises(ObliviateError, match=">= 0"):
        stats.harmonic_mean([1, -0.5])


def test_truth_ratio_and_aggregates():
    """base avg_nll 1, perturbed avg_nll [2, 3]: P̃ = e^-1 vs GM(e^-2, e^-3) = e^-2.5 → R = e^1.5 ≈ 4.4817.
    forget value min(R, 1/R) = e^-1.5 ≈ 0.2231; other splits max(0, 1 − 1/R) = 1 − e^-1.5 ≈ 0.7769.
    R = 0.5 on a retain item gives max(0, 1 − 2) = 0."""
    r = knowledge.truth_ratio(1.0, [2.0, 3.0])
    close(r, math.exp(1.5))
    close(knowledge.truth_ratio_forget([r])[0], math.exp(-1.5))
    close(knowledge.truth_ratio_other([r])[0], 1 - math.exp(-1.5))
    close(knowledge.truth_ratio_other([0.5])[0], 0.0)
    with pytest.raises(DataError, match="perturbed"):
        knowledge.truth_ratio(1.0, [])


def test_prob_and_prob_norm():
    """avg_nll ln 2 → P̃ = 0.5; perturbed avg_nll ln 4, ln 4 → 0.25 each: prob_norm = 0.5 / (0.5 + 0.5) = 0.5."""
    close(knowledge.prob([math.log(2)])[0], 0.5)
    close(knowledge.prob_norm(math.log(2), [math.log(4), math.log(4)]), 0.5)


def test_min_k():
    """log-probs [-1, -5, -2, -4, -3], k = 0.4: ⌊0.4·5⌋ = 2 lowest = -5, -4 → -4.5.
    Two tokens: ⌊0.8⌋ = 0 → at least 1 → the lowest, -3."""
    close(privacy.min_k_score([-1, -5, -2, -4, -3]), -4.5)
    close(privacy.min_k_score([-1, -3]), -3.0)


def test_min_k_pp():
    """log p = [-1, -2, -3, -1, -2], μ = [-1.5, -1, -2, -1, -1], σ = [0.5, 1, 2, 1, 0.5]:
    z = [1, -1, -0.5, 0, -2]; ⌊0.4·5⌋ = 2 lowest = -2, -1 → -1.5.
    The floor is on the variance, σ² ≥ 1e-6, i.e. σ ≥ 1e-3: σ = 0 → z = (-1 − (-0.5))/1e-3 = -500 (not -5e5, a
    floor of σ ≥ 1e-6); σ = 5e-4 (σ² = 2.5e-7 < 1e-6) → also -500; σ = 2e-3 is above the floor → -0.5/2e-3 = -250."""
    close(privacy.min_k_pp_score([-1, -2, -3, -1, -2], [-1.5, -1, -2, -1, -1], [0.5, 1, 2, 1, 0.5]), -1.5)
    close(privacy.min_k_pp_score([-1.0], [-0.5], [0.0]), -500.0)
    close(privacy.min_k_pp_score([-1.0], [-0.5], [5e-4]), -500.0)
    close(privacy.min_k_pp_score([-1.0], [-0.5], [2e-3]), -250.0)


def test_loss_zlib_scores():
    """loss = mean log p of [-1, -3] = -2; zlib("aaaa") is 12 bytes → -2/12."""
    close(privacy.loss_score([-1, -3]), -2.0)
    close(privacy.zlib_score([-1, -3], "aaaa"), -2 / 12)


def test_extraction_strength():
    """|y| = 4. [F,T,T,T]: k = 1 → 1 − 1/4 = 0.75. [T,T,F,T]: k = 3 → 0.25. [T,T,T,F]: no suffix matches → 0
    (not 1/4). All correct: k = 0 → 1."""
    T, F = True, False
    close(memorization.extraction_strength([F, T, T, T]), 0.75)
    close(memorization.extraction_strength([T, T, F, T]), 0.25)
    close(memorization.extraction_strength([T, T, T, F]), 0.0)
    close(memorization.extraction_strength([T, T, T, T]), 1.0)


def test_memorization_leaves_out_the_final_eos():
    """A forget answer of 3 tokens + EOS, labels [-100, 5, 6, 7, EOS=2]; argmax matches [T, T, F] on the answer and
    the EOS (as every model predicts it). Counting the EOS gives EM 3/4 and ES 1/4 (the 1/|y| floor); over the
    answer alone EM = 2/3 and ES = 0 (the last answer token is wrong). A truncated answer (no final EOS) keeps all
    its positions: [T, F, T] → EM 2/3, ES 1/3."""
    from types import SimpleNamespace

    from obliviate.models import IGNORE, Encoded

    items = [Encoded([1, 5, 6, 7, 2], [IGNORE, 5, 6, 7, 2]), Encoded([1, 5, 6, 7], [IGNORE, 5, 6, 7])]
    plan = SimpleNamespace(qa={"forget": SimpleNamespace(answer=[0, 1])}, book=SimpleNamespace(items=items),
                           eos_id=2, muse=False, verb=None)
    stats = [SimpleNamespace(correct=np.array([True, True, False, True])),
             SimpleNamespace(correct=np.array([True, False, True]))]
    out = memorization.memorization_metrics(plan, stats, {}, None)
    close(out["exact_memorization"]["per_item"][0], 2 / 3)
    close(out["extraction_strength"]["per_item"][0], 0.0)
    close(out["exact_memorization"]["per_item"][1], 2 / 3)
    close(out["extraction_strength"]["per_item"][1], 1 / 3)


def test_exact_memorization():
    """[T, F, T, T]: 3 of 4 positions → 0.75."""
    close(memorization.exact_memorization([True, False, True, True]), 0.75)


def test_privleak():
    """AUC 0.95 vs oracle 0.5: A = 0.05 and 0.5 → (0.05 − 0.5)/0.5·100 = −90. Same AUC → 0. AUC 0.2 vs 0.5:
    (0.8 − 0.5)/0.5·100 = +60 (over-unlearning)."""
    close(privacy.privleak(0.95, 0.5), -90.0)
    close(privacy.privleak(0.62, 0.62), 0.0)
    close(privacy.privleak(0.2, 0.5), 60.0)


def test_muse_c4_needs_knowmem_r_and_model_utility():
    """Target knowmem_r 40 and model_utility 0.6 → thresholds 0.95·40 = 38 and 0.95·0.6 = 0.57. knowmem_r 39 passes
    but model_utility 0.5 fails → C4 fails (it passed on knowmem_r alone); with model_utility 0.58 both hold → pass.
    Without model_utility on either side there is no C4 cell."""
    from obliviate.eval.muse import muse_table

    target = {"knowmem_r": {"value": 40.0}, "model_utility": {"value": 0.6}}
    model = {"knowmem_r": {"value": 39.0}, "model_utility": {"value": 0.5}}
    c4 = muse_table(model, None, target)["C4"]
    assert c4["pass"] is False and c4["parts"]["knowmem_r"]["pass"] is True
    close(c4["parts"]["model_utility"]["threshold"], 0.57)
    close(c4["threshold"], 38.0)
    assert muse_table({**model, "model_utility": {"value": 0.58}}, None, target)["C4"]["pass"] is True
    assert "C4" not in muse_table({"knowmem_r": {"value": 39.0}}, None, target)
    assert "C4" not in muse_table(model, None, {"knowmem_r": {"value": 40.0}})


def test_model_utility_resamples_each_splits_items_jointly():
    """retain: item 1 scores 1 on prob, rouge and truth ratio, item 2 scores 0.25 on all three. Drawn jointly, a
    resample's three means are equal, m ∈ {1, 0.625, 0.25} with chances 1/4, 1/2, 1/4, and their harmonic mean is
    m: over 1,000 resamples the 95% interval is exactly [0.25, 1]. Drawn independently, all three at 0.25 (or at 1)
    has chance 1/64 < 2.5%, so the interval was strictly inside. A truth ratio on 3 items of a separate
    perturbed set cannot share the 2-item draw: it is its own group."""
    from obliviate.eval.utility import item_groups, utility_metric

    comps = {f"retain/{n}": {"value": 0.625, "per_item": [1.0, 0.25]} for n in ("prob", "rouge_l_recall",
                                                                               "truth_ratio")}
    m = utility_metric(comps, ("retain",))
    close(m["value"], 0.625)
    close(m["ci_low"], 0.25)
    close(m["ci_high"], 1.0)
    comps["retain/truth_ratio"] = {"value": 0.5, "per_item": [0.5, 0.5, 0.5]}
    assert [g.shape for g in item_groups(comps)] == [(2, 2), (3, 1)]


def test_model_utility_names_missing_components():
    """retain has prob 0.5 and truth ratio 0.8 but no ROUGE (nothing generated): the harmonic mean of the two is
    2 / (1/0.5 + 1/0.8) = 2 / 3.25 = 8/13, and the missing retain/rouge_l_recall is named in `missing` and `note`.
    real_authors is absent from the data altogether: not missing. All three present: no note."""
    from obliviate.eval.utility import utility_metrics

    metrics = {"retain/prob": {"value": 0.5, "per_item": [0.5]}, "retain/truth_ratio": {"value": 0.8,
                                                                                      "per_item": [0.8]}}
    mu = utility_metrics(metrics)["model_utility"]
    close(mu["value"], 8 / 13)
    assert mu["missing"] == ["retain/rouge_l_recall"] and "retain/rouge_l_recall" in mu["note"]
    metrics["retain/rouge_l_recall"] = {"value": 1.0, "per_item": [1.0]}
    assert "note" not in utility_metrics(metrics)["model_utility"]


def test_forget_quality_has_a_p_range_not_a_ci():
    """R_model [1, 2, 3] vs R_oracle [4, 5, 6]: KS p = 0.1 (test_ks_pvalue). A p-value has no confidence interval:
    ci_low/ci_high are None and the spread of bootstrap p-values is stored as p_range, with its note."""
    from obliviate.eval.utility import forget_quality

    fq = forget_quality({"forget/truth_ratio": {"ratio": [1.0, 2.0, 3.0]}},
                        {"forget/truth_ratio": {"ratio": [4.0, 5.0, 6.0]}})
    close(fq["value"], 0.1, tol=1e-12)
    assert fq["ci_low"] is None and fq["ci_high"] is None
    lo, hi = fq["p_range"]
    assert 0.0 <= lo <= hi <= 1.0 and "not a confidence interval" in fq["p_range_note"]


def test_bootstrap_ci():
    """values [0, 1]: a resample's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4, so over 1,000 resamples the
    2.5% quantile is 0 and the 97.5% quantile is 1. Constant values give a zero-width interval."""
    lo, hi = bootstrap_ci([0.0, 1.0])
    close(lo, 0.0)
    close(hi, 1.0)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_bootstrap_groups_is_stratified():
    """Group sizes are kept in every resample: a stat returning the sizes' ratio is constant 3/2, and the smallest
    member minus the largest non-member stays positive for perfectly separated groups."""
    m, h = np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2])
    lo, hi = bootstrap_groups([m, h], lambda a, b: a.shape[0] / b.shape[0])
    close(lo, 1.5)
    close(hi, 1.5)
    assert bootstrap_groups([m, h], lambda a, b: a.min() - b.max())[0] >= 0.5 - 1e-12


def test_auc_resamples():
    """Perfectly separated scores: every resample's AUC is 1. All scores tied: every pair counts 1/2 → 0.5.
    On random scores the matrix form matches resampling with sklearn in distribution (same 95% interval ±0.02)."""
    m, h = np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2])
    r = stats.auc_resamples([(m, h), (np.zeros(3), np.zeros(2))], resamples=50)
    assert r.shape == (50, 2) and (r[:, 0] == 1.0).all() and (r[:, 1] == 0.5).all()
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=40) + 0.5, rng.normal(size=30)
    fast = percentile_ci(stats.auc_resamples([(a, b)], resamples=400)[:, 0])
    slow = bootstrap_groups([a, b], stats.auc, resamples=400)
    assert abs(fast[0] - slow[0]) < 0.02 and abs(fast[1] - slow[1]) < 0.02


def test_every_bootstrap_draws_through_resample_indices():
    """bootstrap_ci is the percentile CI of the statistic over the rows of `resample_indices`, and row r of the AUC
    bootstrap is the AUC of resample r of the members and of the non-members (one draw, one home)."""
    rng = np.random.default_rng(3)
    x, m, h = rng.normal(size=11), rng.normal(size=7) + 0.3, rng.normal(size=5)
    (idx,) = resample_indices([x.size], 200)
    assert bootstrap_ci(x, np.median, resamples=200) == percentile_ci([np.median(x[row]) for row in idx])
    im, ih = resample_indices([m.size, h.size], 20)
    direct = [stats.auc(m[a], h[b]) for a, b in zip(im, ih, strict=True)]
    np.testing.assert_allclose(stats.auc_resamples([(m, h)], resamples=20)[:, 0], direct, rtol=0, atol=1e-12)


def test_knowmem_cut():
    """A generation stops at the first blank line, "\\nQuestion" or "Question:"; the word "Question" inside an
    answer (a title, "the Question of ...") is kept."""
    assert memorization.cut_knowmem(" Paris.\n\nQuestion: x") == "Paris."
    assert memorization.cut_knowmem(" Paris. Question: where") == "Paris."
    assert memorization.cut_knowmem(" Paris.\nQuestion 2") == "Paris."
    assert memorization.cut_knowmem(" She wrote The Question of Time.") == "She wrote The Question of Time."
    assert memorization.cut_knowmem(" A Question Unasked\n\nmore") == "A Question Unasked"


def test_verbmem_prompt_is_the_first_32_tokens():
    """metrics.md: prompt = the first 32 tokens of the text, reference = the next (up to) 128. 40 words tokenize to
    n = 41 tokens (the first word, without a leading space, takes two): prompt = bos + ids[0:32], reference =
    ids[32:41] (9 tokens), not the halves ids[0:20] / ids[20:41] that min(32, n/2) gave. A text of 11 tokens
    has no continuation past 32: it falls back to prompt ids[0:5], reference ids[5:11]."""
    from types import SimpleNamespace

    from obliviate.eval.plan import build_plan
    from obliviate.models import train_tokenizer

    words = [a + b for a in "pqrs" for b in "abcdefghij"]  # 40 letter-only words (digits split apart)
    tok = train_tokenizer([" ".join(words[i:] + words[:i]) for i in range(40)], vocab_size=600)
    long_text, short_text = " ".join(words), " ".join(words[:10])
    ids = tok(long_text, add_special_tokens=False)["input_ids"]
    short = tok(short_text, add_special_tokens=False)["input_ids"]
    assert (len(ids), len(short)) == (41, 11)
    splits = SimpleNamespace(forget_texts=[{"text": long_text}, {"text": short_text}])
    plan = build_plan(tok, splits, "muse")
    assert plan.verb.prompts == [[tok.bos_token_id] + ids[:32], [tok.bos_token_id] + short[:5]]
    assert plan.verb.references == [tok.decode(ids[32:]), tok.decode(short[5:])]


@pytest.fixture(scope="module")
def word_tok():
    """A byte-level BPE tokenizer on 40 letter-only words: bos 1, eos 2."""
    from obliviate.models import train_tokenizer

    words = [a + b for a in "pqrs" for b in "abcdefghij"]
    return train_tokenizer([" ".join(words[i:] + words[:i]) for i in range(40)], vocab_size=600)


def test_mia_raw_texts_are_scored_without_eos(word_tok):
    """Raw texts (forget_texts vs holdout_texts) are external data: the scored labels are exactly the text's
    tokens after BOS, with no EOS appended (MUSE appends none). "pa pb pc" → labels [-100] + ids, ids not ending
    in EOS (2); the zlib text is the text itself."""
    from types import SimpleNamespace

    from obliviate.eval.plan import build_plan
    from obliviate.models import IGNORE

    tok = word_tok
    splits = SimpleNamespace(forget_texts=[{"text": "pa pb pc"}], holdout_texts=[{"text": "qa qb"}])
    plan = build_plan(tok, splits, "mia")
    ids = tok("pa pb pc", add_special_tokens=False)["input_ids"]
    member = plan.book.items[plan.mia.member[0]]
    assert plan.mia.kind == "text" and tok.eos_token_id not in ids
    assert member.input_ids == [tok.bos_token_id] + ids
    assert member.labels == [IGNORE] + ids
    assert plan.mia.member_text == ["pa pb pc"]


def test_mia_raw_texts_are_cut_at_the_context_and_zlib_reads_the_part_scored(word_tok):
    """A model of 6 positions scores BOS + the first 5 tokens of a longer text: labels [-100] + ids[:5], and the
    zlib score reads decode(ids[:5]) (not the whole text, whose compressed length differs); a text that fits is
    scored whole and zlib reads it as given. The cut is noted: 1 of 2 texts."""
    import zlib
    from types import SimpleNamespace

    from obliviate.eval.plan import build_plan
    from obliviate.eval.suite import context_length
    from obliviate.models import IGNORE

    tok = word_tok
    long_text = "pa pb pc pd pe pf pg ph pi pj"
    ids = tok(long_text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 5
    splits = SimpleNamespace(forget_texts=[{"text": long_text}], holdout_texts=[{"text": "qa qb"}])
    plan = build_plan(tok, splits, "mia", max_positions=6)
    assert plan.book.items[plan.mia.member[0]].labels == [IGNORE] + ids[:5]
    kept = tok.decode(ids[:5])
    assert plan.mia.member_text == [kept] and plan.mia.nonmember_text == ["qa qb"]
    assert len(zlib.compress(kept.encode())) != len(zlib.compress(long_text.encode()))
    close(privacy.zlib_score([-1, -3], plan.mia.member_text[0]), -2 / len(zlib.compress(kept.encode())))
    assert plan.notes["mia_texts_cut"].startswith("1 of 2 MIA texts")
    whole = build_plan(tok, splits, "mia")  # default: the presets' 512 positions, the text fits
    assert whole.mia.member_text == [long_text] and "mia_texts_cut" not in whole.notes
    assert context_length(SimpleNamespace(config=SimpleNamespace(max_position_embeddings=64))) == 64
