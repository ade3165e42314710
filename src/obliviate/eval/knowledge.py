"""Knowledge metrics over sequence log-probs: P̃, normalised probability, truth ratio and its two aggregates.

Everything is computed in log space from per-item average NLLs (metrics.md §1): P̃(y|x) = exp(−avg_nll), and the
truth ratio R = P̃(base) / GM_i P̃(pert_i) becomes exp(mean_i avg_nll(pert_i) − avg_nll(base)).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import logsumexp

from obliviate.errors import DataError


def prob(avg_nll: Sequence[float]) -> np.ndarray:
    """Per-item length-normalised probability P̃ = exp(−avg_nll)."""
    return np.exp(-np.asarray(avg_nll, dtype=float))


def truth_ratio(base_avg_nll: float, pert_avg_nll: Sequence[float]) -> float:
    """R = P̃(base) / geometric mean of P̃(pert_i) = exp(mean(avg_nll_pert) − avg_nll_base)."""
    pert = np.asarray(pert_avg_nll, dtype=float)
    if pert.size == 0:
        raise DataError("truth ratio needs at least one perturbed answer", field="perturbed_answer",
                        rule="non-empty list", value=[])
    return float(np.exp(pert.mean() - base_avg_nll))


def prob_norm(true_avg_nll: float, pert_avg_nll: Sequence[float]) -> float:
    """P̃(true) / (P̃(true) + Σ_i P̃(pert_i)), as a softmax over −avg_nll so tiny probabilities don't underflow."""
    logits = -np.concatenate([[true_avg_nll], np.asarray(pert_avg_nll, dtype=float)])
    return float(np.exp(logits[0] - logsumexp(logits)))


def truth_ratio_forget(ratios: Sequence[float]) -> np.ndarray:
    """Forget-split per-item value min(R, 1/R): 1 when the model can't tell the answer from the perturbations."""
    r = np.asarray(ratios, dtype=float)
    return np.minimum(r, 1.0 / r)


def truth_ratio_other(ratios: Sequence[float]) -> np.ndarray:
    """Retain / real authors / world facts per-item value max(0, 1 − 1/R): near 1 when the true answer wins."""
    r = np.asarray(ratios, dtype=float)
    return np.maximum(0.0, 1.0 - 1.0 / r)


TRUTH_RATIO_CONVENTION = (
    "truth ratio R = P~(base)/geometric-mean P~(perturbed), P~ = exp(-mean answer-token NLL incl. EOS); "
    "base = paraphrased_answer where present else answer; forget per-item min(R,1/R), other splits "
    "max(0,1-1/R); forget_quality = scipy ks_2samp(R_model, R_oracle).pvalue on raw forget R")


def qa_metrics(plan, stats, answers: dict[str, list[str]]) -> dict:
    """SPLIT/prob, SPLIT/rouge_l_recall, SPLIT/truth_ratio and SPLIT/prob_norm from one scoring pass.

    stats: the ScoreBook's TokenStats by handle; answers: greedy answers (decoded) per generated split.
    """
    from obliviate.results import metric

    from .rouge import rouge_l_recall

    out: dict = {}
    for name, ev in plan.qa.items():
        out[f"{name}/prob"] = metric(prob([stats[h].avg_nll for h in ev.answer]))
        if plan.tofu and name in answers:
            gens = answers[name]
            rec = [rouge_l_recall(g, r["answer"]) for g, r in zip(gens, ev.records, strict=True)]
            out[f"{name}/rouge_l_recall"] = metric(rec, generations=gens)
    for name, tv in plan.truth.items():
        ratios = np.array([truth_ratio(stats[b].avg_nll, [stats[p].avg_nll for p in ps])
                           for b, ps in zip(tv.base, tv.perts, strict=True)])
        per_item = truth_ratio_forget(ratios) if name == "forget" else truth_ratio_other(ratios)
        out[f"{name}/truth_ratio"] = metric(per_item, ratio=ratios.tolist())
        if name in ("real_authors", "world_facts"):
            norm = [prob_norm(stats[t].avg_nll, [stats[p].avg_nll for p in ps])
                    for t, ps in zip(tv.true, tv.perts, strict=True)]
            out[f"{name}/prob_norm"] = metric(norm)
    return out
