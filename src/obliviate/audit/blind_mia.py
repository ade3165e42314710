"""blind_mia: a membership attack that never looks at the model (character n-grams of the texts → logistic
regression, cross-validated) on the members and non-members the MIA suite uses; beside it, the model's MIA AUC
against the oracle's.

Papers: Das, Zhang & Tramèr, "Blind Baselines Beat Membership Inference Attacks for Foundation Models"
(arXiv:2406.16201); Meeus et al., "SoK: Membership Inference Attacks on LLMs are Rushing Nowhere (and How to Fix
It)" (arXiv:2406.17975); Duan et al., "Do Membership Inference Attacks Work on Large Language Models?" (COLM 2024).
When members and non-members differ in distribution, a model-free classifier separates them, and any MIA AUC then
measures the shift, not membership.

Protocol: members and non-members exactly as the evaluation's MIA suite takes them (`eval.plan.build_plan`, suite
"mia": forget vs holdout QA answers, or texts). Features: TF-IDF of character 1–4-grams within word boundaries
(scikit-learn), fitted inside each fold; classifier: logistic regression; stratified `blind_folds`-fold CV (seeded)
gives an out-of-fold score per text (a person's texts kept in one fold); blind AUC = roc AUC of those scores with a bootstrap CI (persons resampled within members and non-members, else items). The data is
flagged (`mia_unreliable`) when that CI lies above 0.5. (Below 0.5 is a known artefact of cross-validating a
classifier with no signal, not a shift.) Check `mia_auc`: the min-k (k = 0.4) AUC of the model minus the oracle's on
the same items (paired, stratified bootstrap): `residual` when the model tells forget from holdout better than the
oracle can. Without an oracle the reference is AUC 0.5, valid only while the data is not flagged: a flagged data
set gives `n/a` then, since only an oracle sees the same shift.
"""
from __future__ import annotations

import numpy as np

from obliviate.eval.privacy import PRIVLEAK_ATTACK
from obliviate.eval.stats import auc, auc_resamples
from obliviate.results import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, percentile_ci

from .verdict import level_for, rule

NAME = "blind_mia"
PAPER = ("Das, Zhang & Tramèr 2024, Blind Baselines Beat Membership Inference Attacks for Foundation Models "
         "(arXiv:2406.16201); Meeus et al. 2024, SoK: Membership Inference Attacks on LLMs are Rushing Nowhere "
         "(arXiv:2406.17975)")


def requires(ctx) -> str | None:
    s = ctx.splits
    if not ((s.forget and s.holdout) or (s.forget_texts and s.holdout_texts)):
        return "membership inference needs a holdout split, never trained on (field 'holdout')"
    return None


def blind_scores(members: list[str], nonmembers: list[str], folds: int, seed: int,
                 groups: list | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Out-of-fold P(member) of a char-n-gram logistic regression for members and non-members, and the folds.

    groups (one id per text, members then non-members): texts of one person stay in one fold. Otherwise the
    classifier learns the names it saw in training folds (a person's items share the name), which is membership
    of the *person* leaking across folds, not a difference of distribution.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    x = list(members) + list(nonmembers)
    y = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    units = (len(set(groups[:len(members)])), len(set(groups[len(members):]))) if groups else (len(members),
                                                                                                len(nonmembers))
    k = max(2, min(folds, *units))
    clf = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
                        LogisticRegression(C=1.0, max_iter=2000))
    if groups:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        p = cross_val_predict(clf, x, y, cv=cv, groups=[str(g) for g in groups], method="predict_proba")[:, 1]
    else:
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return p[:len(members)], p[len(members):], k


def blind_auc(members: list[str], nonmembers: list[str], folds: int = 5, seed: int = 0,
              groups: list | None = None) -> dict:
    """The blind attack's AUC with a 95% bootstrap CI (persons resampled when `groups` is given), and whether it
    flags the data."""
    m, h, k = blind_scores(members, nonmembers, folds, seed, groups)
    if groups:
        lo, hi = cluster_auc_ci(m, h, groups[:len(m)], groups[len(m):])
    else:
        lo, hi = percentile_ci(auc_resamples([(m, h)])[:, 0])
    return {"value": auc(m, h), "ci_low": lo, "ci_high": hi, "n": len(m) + len(h), "per_item": m.tolist(),
            "holdout_scores": h.tolist(), "folds": k, "grouped_by_person": bool(groups),
            "mia_unreliable": bool(lo > 0.5)}


def cluster_auc_ci(m: np.ndarray, h: np.ndarray, gm: list, gh: list, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile CI of the AUC resampling *persons* (with all their items) within members and non-members:
    a person's items share the name and the fold, so they are not independent draws.

    As in `eval.stats.auc_resamples`: with W[i, j] = 1[m_i > h_j] + ½·1[m_i = h_j] and item multiplicities c1, c0
    of a resample (each item counted as often as its person was drawn), AUC = c1ᵀ W c0 / (Σc1 · Σc0).
    """
    rng = np.random.default_rng(seed)

    def multiplicities(groups):  # (B, n items)
        ids = {g: i for i, g in enumerate(dict.fromkeys(groups))}
        owner = np.array([ids[g] for g in groups])
        draws = rng.integers(0, len(ids), size=(resamples, len(ids)))
        counts = np.stack([np.bincount(row, minlength=len(ids)) for row in draws])  # (B, persons)
        return counts[:, owner].astype(float)

    c1, c0 = multiplicities(gm), multiplicities(gh)
    w = (m[:, None] > h[None, :]) + 0.5 * (m[:, None] == h[None, :])  # (n1, n0)
    stats = np.einsum("bi,ij,bj->b", c1, w, c0, optimize=True) / (c1.sum(1) * c0.sum(1))
    return percentile_ci(stats)


def person_groups(splits, mia) -> list | None:
    """Person ids of the MIA suite's members then non-members, when every record has one; else None."""
    pairs = ((splits.forget, splits.holdout, "answer") if mia.kind == "qa"
             else (splits.forget_texts, splits.holdout_texts, "text"))
    recs = list(pairs[0] or []) + list(pairs[1] or [])
    texts = list(mia.member_text) + list(mia.nonmember_text)
    if len(recs) != len(texts) or any(r.get(pairs[2]) != t or r.get("person") is None for r, t in zip(recs, texts, strict=True)):
        return None
    return [("m", r["person"]) for r in recs[:len(mia.member_text)]] + [("h", r["person"]) for r in
                                                                       recs[len(mia.member_text):]]


def mia_scores(model, tok, plan) -> tuple[np.ndarray, np.ndarray, dict]:
    """The MIA suite's min-k member and non-member scores of `model`, and every attack's AUC."""
    from obliviate.eval.privacy import mia_metrics

    from .measure import pad_id

    metrics = mia_metrics(plan, plan.book.run(model, pad_id(tok)))
    entry = metrics[f"mia/{PRIVLEAK_ATTACK}"]
    return (np.asarray(entry["per_item"]), np.asarray(entry["holdout_scores"]),
            {k: v["value"] for k, v in metrics.items()})


def run(ctx) -> dict:
    from obliviate.eval.plan import build_plan

    plan = build_plan(ctx.tok, ctx.splits, "mia", generate=False)
    blind = blind_auc(plan.mia.member_text, plan.mia.nonmember_text, ctx.config.blind_folds, ctx.seed,
                      person_groups(ctx.splits, plan.mia))
    out = ctx.sides(lambda m: mia_scores(m, ctx.tok, plan))
    mf, mh, aucs = out["model"]
    level = level_for(1)
    if ctx.against == "oracle":
        of, oh, _ = out["oracle"]
        boot = auc_resamples([(mf, mh), (of, oh)])  # (B, 2): model and oracle AUC on the same resampled items
        ref_auc, diffs = auc(of, oh), boot[:, 0] - boot[:, 1]
    else:
        boot = auc_resamples([(mf, mh)])
        ref_auc, diffs = 0.5, boot[:, 0] - 0.5
    lo, hi = percentile_ci(diffs, level)
    diff = {"value": auc(mf, mh) - ref_auc, "ci_low": lo, "ci_high": hi, "level": level, "paired": True}
    check = {"metric": f"AUC of mia/{PRIVLEAK_ATTACK} (forget = member, holdout = non-member)",
             "against": ctx.against, "model": _auc_entry(mf, mh),
             ctx.against: _auc_entry(*out["oracle"][:2]) if ctx.against == "oracle" else {"value": 0.5},
             "difference": diff}
    if ctx.against == "holdout" and blind["mia_unreliable"]:
        check |= {"verdict": "n/a", "reason": "vs holdout: the blind attack separates forget from holdout texts "
                  f"(AUC {blind['value']:.2f} [{blind['ci_low']:.2f}, {blind['ci_high']:.2f}]), so the model's MIA "
                  "AUC measures that shift; only an oracle sees the same shift"}
    else:
        verdict = rule(lo)
        check |= {"verdict": verdict, "reason": f"vs {ctx.against}: MIA AUC {auc(mf, mh):.3f} against {ref_auc:.3f}"
                  f" (difference {diff['value']:+.3g} [{lo:+.3g}, {hi:+.3g}])"
                  + ("; the forget set still looks trained on" if verdict == "residual" else "")}
    details = {"blind": blind, "mia_auc": {s: v[2] for s, v in out.items()}, "kind": plan.mia.kind,
               "mia_unreliable": blind["mia_unreliable"]}
    return ctx.result(__name__, {"mia_auc": check}, details)


def _auc_entry(member: np.ndarray, nonmember: np.ndarray) -> dict:
    lo, hi = percentile_ci(auc_resamples([(member, nonmember)])[:, 0])
    return {"value": auc(member, nonmember), "ci_low": lo, "ci_high": hi, "n": len(member) + len(nonmember),
            "per_item": member.tolist(), "holdout_scores": nonmember.tolist()}
