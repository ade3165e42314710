"""`obliviate eval --guard G`: evaluate a guarded model like any model, and say what a guard is in results.json.

results.json gains `guard`: {"kind": "eco", "weights unchanged": true, σ, threshold, the classifier's flag rates on
this evaluation's splits (forget recall, paraphrased-forget FNR, FPR on retain / neighbours / holdout), latency
overhead per prompt, and what stays `residual`}. Its cost is the guard's fitting time (no training step).
"""
from __future__ import annotations

import numpy as np

from .guard import Guard
from .model import GuardedModel


def guard_model(model, tokenizer, guard_path: str) -> GuardedModel:
    return GuardedModel(model, tokenizer, Guard.load(guard_path))


def split_rates(guard: Guard, splits) -> dict[str, dict]:
    """Flag rates of the classifier on the questions of each split present (the guard's own view, one pass)."""
    sets = {"forget": [r["question"] for r in splits.forget or []],
            "paraphrased": [r["paraphrased_question"] for r in splits.forget_perturbed or []
                            if r.get("paraphrased_question")],
            "retain": [r["question"] for r in splits.retain or []],
            "neighbours": [r["question"] for r in splits.neighbours or []],
            "holdout": [r["question"] for r in splits.holdout or []]}
    out = {}
    for name, qs in sets.items():
        if qs:
            rate = float(np.mean(guard.classifier.flags(qs)))
            key = {"forget": "forget_recall", "paraphrased": "paraphrased_fnr"}.get(name, f"fpr_{name}")
            out[key] = {"value": 1 - rate if name == "paraphrased" else rate, "n": len(qs)}
    return out


def guard_results(results: dict, guarded: GuardedModel, splits, cost: dict | None = None) -> dict:
    """results with the `guard` block, its cost, and the `weights unchanged` convention."""
    g = guarded.guard
    st = guarded.stats
    fit = g.fit or {}
    out = dict(results)
    out["guard"] = {"kind": "eco", "weights unchanged": True, "sigma": g.sigma, "mode": g.mode,
                    "threshold": g.classifier.threshold, "fpr_target": g.classifier.fpr,
                    "rates": split_rates(g, splits), "held_out": fit.get("held_out"),
                    "calls": st["prompts"], "flagged": st["flagged"],
                    "latency_ms_per_prompt": round(1000 * st["guard_s"] / max(1, st["prompts"]), 3),
                    "residual": RESIDUAL}
    c = dict(cost or {})
    c |= {"wall_time_s": fit.get("wall_time_s"), "steps": 0, "guard_fit": True,
          "note": "an ECO guard: cost = fitting the classifier and the σ search; no weight is trained"}
    oracle_s = (c.get("oracle") or {}).get("wall_time_s")
    if c["wall_time_s"] and oracle_s:
        c["cost_ratio"] = c["wall_time_s"] / oracle_s
    out["cost"] = c
    out["conventions"] = {**out.get("conventions", {}), "guard": CONVENTION}
    return out


RESIDUAL = ("weights unchanged: the model still holds the forgotten data, so weight-level audits (relearning, "
            "quantization, parametric probes, MIA on the raw model) see the unguarded model and stay residual; a "
            "prompt the classifier misses (a paraphrase) gets the unguarded answer")
CONVENTION = ("ECO guard: a prompt flagged by the classifier (MiniLM + logistic head, threshold at the fitted FPR) "
              "has its question tokens' input embeddings corrupted at prefill (N(0, σ²) noise or zeroing); "
              "unflagged prompts run the unguarded model bit-identically; teacher-forced scoring corrupts the "
              "same question tokens, never the answer")
