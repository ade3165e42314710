"""Fit an ECO guard: the prompt classifier (forget prompts vs retain, holdout and unrelated prompts) and σ.

    guard = fit_guard(model, tokenizer, load_splits("corpus/"), oracle=oracle_model)

Prompt sets (`prompt_sets`): positives = the forget questions; negatives = retain and holdout questions (split by
person) and a shipped list of unrelated questions, cut 60/20/20 into train / calibration / test. The threshold is
calibrated on the calibration negatives (split-conformal, `classifier.py`); the test negatives give the held-out
false-positive rates (retain, neighbours, holdout, unrelated), and the paraphrased forget questions (TOFU-style
`paraphrased_question`, never trained on) give the false-negative rate.

σ (`search_sigma`): central-difference zeroth-order search on u = log σ for the forget set's mean length-normalised
answer probability (`forget/prob`) under the guarded model to reach the oracle's (or a given target): at each step
L(u) = |f(eᵘ) − target| is probed at u ± h, u moves by `step` against the sign of the difference, and `step`
halves whenever the move does not lower L; it stops on a plateau (a move gains < 0.005: teacher-forced answers
that repeat the person's name let the model recall the rest, so forget/prob has a floor no σ passes); the best σ
seen is kept, and the trace is saved in guard.json.
"""
from __future__ import annotations

import math
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from obliviate.errors import DataError

from .classifier import fit_classifier
from .guard import Guard, Mode, vocab_sha256
from .model import GuardedModel

UNRELATED = Path(__file__).with_name("unrelated_prompts.txt")


def _part(key, seed: int) -> str:
    """train (60%), calibration (20%) or test (20%), by a stable hash of the item's group key."""
    u = zlib.crc32(f"{seed}:{key}".encode()) % 100
    return "train" if u < 60 else "calibration" if u < 80 else "test"


def prompt_sets(splits, seed: int = 0) -> dict[str, list[str]]:
    """{positives, negatives, calibration, test_<kind>..., paraphrased}: the question texts the guard is fitted and
    measured on (see the module docstring)."""
    forget = [r["question"] for r in splits.forget or []]
    if not forget:
        raise DataError("the forget request is empty (rule: at least one forget question)", field="forget", value=0)
    out: dict[str, list[str]] = {"positives": forget, "negatives": [], "calibration": []}
    forget_set = set(forget)
    neighbours = {r["question"] for r in splits.neighbours or []}
    unrelated = [s.strip() for s in UNRELATED.read_text().splitlines() if s.strip()]
    groups = [("retain", splits.retain or []), ("holdout", splits.holdout or []),
              ("unrelated", [{"question": q, "person": f"u{i}"} for i, q in enumerate(unrelated)])]
    for kind, records in groups:
        for i, r in enumerate(records):
            q = r["question"]
            if q in forget_set:
                continue
            part = _part(r.get("person", f"{kind}{i}"), seed)
            if part == "test":
                name = "test_neighbours" if q in neighbours else f"test_{kind}"
                out.setdefault(name, []).append(q)
            else:
                out["negatives" if part == "train" else "calibration"].append(q)
    out["paraphrased"] = [r["paraphrased_question"] for r in splits.forget_perturbed or []
                          if r.get("paraphrased_question")]
    return out


def held_out_rates(classifier, sets: dict[str, list[str]]) -> dict[str, dict]:
    """Flag rates on the test sets: FPR on each negative kind, recall on the forget questions, FNR on paraphrases."""
    out = {}
    for name, xs in sets.items():
        if name.startswith("test_") or name in ("positives", "paraphrased"):
            flags = classifier.flags(xs) if xs else np.zeros(0, bool)
            rate = float(flags.mean()) if len(xs) else None
            key = {"positives": "forget_recall", "paraphrased": "paraphrased_fnr"}.get(name, f"fpr_{name[5:]}")
            out[key] = {"value": (1 - rate if name == "paraphrased" and rate is not None else rate), "n": len(xs)}
    return out


@torch.no_grad()
def forget_prob(model, tokenizer, records: list[dict], batch_size: int = 32) -> float:
    """Mean over items of exp(−mean answer-token NLL): the suite's `forget/prob`."""
    from obliviate.models import collate, encode_qa, forward_logprobs, pad_id

    enc = [encode_qa(tokenizer, r["question"], r["answer"]) for r in records]
    probs = []
    for i in range(0, len(enc), batch_size):
        out = forward_logprobs(model, collate(enc[i:i + batch_size], pad_id(tokenizer)))
        probs += torch.exp(-out.seq_nll / out.n_tokens.clamp(min=1)).tolist()
    return float(np.mean(probs))


def search_sigma(f, target: float, sigma0: float, steps: int = 8, h: float = 0.3, step: float = 1.0,
                 tol: float = 0.005, plateau: float = 0.005) -> tuple[float, list[dict]]:
    """Zeroth-order (central-difference) search of σ with f(σ) ≈ target; returns (best σ, trace). Stops within
    `tol` of the target, or when a step gains less than `plateau` (the target is out of reach: the best σ seen)."""
    seen: dict[float, float] = {}

    def loss(u: float) -> float:
        if u not in seen:
            seen[u] = f(math.exp(u))
        return abs(seen[u] - target)

    u, trace = math.log(sigma0), []
    for k in range(steps):
        g = (loss(u + h) - loss(u - h)) / (2 * h)
        here = loss(u)  # fills seen[u]: σ is evaluated once
        trace.append({"step": k, "sigma": math.exp(u), "value": seen[u], "loss": here, "grad": g})
        if loss(u) < tol or g == 0:
            break
        cand = u - step * math.copysign(1.0, g)
        if loss(cand) < loss(u):
            gain, u = loss(u) - loss(cand), cand
            if gain < plateau:  # the forget metric has stopped moving: more noise buys nothing
                trace.append({"step": k + 1, "sigma": math.exp(u), "value": seen[u], "loss": loss(u),
                              "stop": "plateau"})
                break
        else:
            step /= 2
    best = min(seen, key=lambda v: abs(seen[v] - target))
    return math.exp(best), trace


def fit_guard(model, tokenizer, splits, *, oracle=None, target: float | None = None, fpr: float = 0.05,
              mode: Mode = "noise", sigma: float | None = None, seed: int = 0, steps: int = 8) -> Guard:
    """Classifier on the splits' prompts, threshold at `fpr`, and σ from the search (unless `sigma` is given, or
    `mode` is `zero`). The σ target is `target` or, with `oracle` (a model sharing the tokenizer), the oracle's
    forget/prob on the forget set."""
    t0 = time.perf_counter()
    sets = prompt_sets(splits, seed)
    clf = fit_classifier(sets["positives"], sets["negatives"], sets["calibration"], fpr=fpr, seed=seed)
    fit = {"fpr_target": fpr, "held_out": held_out_rates(clf, sets),
           "prompts": {k: len(v) for k, v in sets.items()}}
    guard = Guard(clf, 0.0 if sigma is None else float(sigma), vocab_sha256(tokenizer), mode, seed, fit)
    if sigma is None and mode == "noise":
        if target is None and oracle is None:
            raise DataError("σ search needs a target: pass the oracle model or a target forget/prob (or give σ)",
                            field="sigma", value=None)
        if target is None:
            target = forget_prob(oracle, tokenizer, splits.forget)
        emb = model.get_input_embeddings().weight
        sigma0 = float(emb.detach().float().pow(2).mean().sqrt())  # noise as large as the embeddings' RMS

        def f(s: float) -> float:
            g = GuardedModel(model, tokenizer, Guard(clf, s, guard.tokenizer_sha256, mode, seed))
            try:
                return forget_prob(g, tokenizer, splits.forget)
            finally:
                g.remove()

        best, trace = search_sigma(f, target, sigma0, steps=steps)
        fit |= {"sigma_search": {"target_forget_prob": target, "sigma0": sigma0, "trace": trace,
                                 "unguarded_forget_prob": forget_prob(model, tokenizer, splits.forget)}}
        fit["sigma_search"]["evaluations"] = 1 + len({round(t["sigma"], 12) for t in trace}) * 3
        guard = Guard(clf, best, guard.tokenizer_sha256, mode, seed, fit)
    fit["wall_time_s"] = round(time.perf_counter() - t0, 3)
    return guard

