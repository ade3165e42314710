"""`evaluate(model, tokenizer, splits, oracle=...)`: every metric the data supports, next to the oracle's values.

    from obliviate.eval.suite import evaluate
    results = evaluate(model, tok, load_splits("corpus/"), oracle="models/oracle")   # or oracle_results="r.json"

One plan (each set tokenized once) serves the model and the oracle; per model there is one length-batched scoring
pass and one batched greedy generation per split. The returned dict is a complete results.json (docs/results.md).
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from obliviate.errors import ModelError, ObliviateError
from obliviate.models import generate_ids, pad_id
from obliviate.models.spread import world
from obliviate.results import build_results, check_results, env_info, read_results

from .knowledge import TRUTH_RATIO_CONVENTION, qa_metrics
from .memorization import cut_knowmem, memorization_metrics
from .muse import muse_table
from .plan import KNOWMEM_NEW, MAX_POSITIONS, VERBMEM_NEW, Plan, build_plan
from .privacy import MIA_CONVENTION, mia_metrics, oracle_privacy
from .rouge import ROUGE_CONVENTION
from .utility import forget_quality, utility_metrics

NO_ORACLE = ("forget_quality and privleak are measured against the oracle (a model trained without the forget "
             "set): pass --oracle MODEL_DIR, or --oracle-results PATH (a results.json with its per-item values); "
             "from Python: evaluate(..., oracle=model_or_path) or evaluate(..., oracle_results=path_or_dict)")


def context_length(model) -> int:
    """The model's positions (config.max_position_embeddings; the presets' 512 when it has none): a raw MIA text
    is scored whole up to it, never past what the model can place."""
    n = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(n) if n else MAX_POSITIONS


def _decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def score_model(model, tokenizer, plan: Plan, batch_size: int = 32, recycle: bool | None = None,
                packed: bool | None = None) -> tuple[dict, dict]:
    """All metrics of one model that need no oracle, and timings {scoring_s, generation_s, items}.
    recycle / packed: Token Recycling and packed scoring (None: on unless their environment switch says 0)."""
    t0 = time.perf_counter()
    stats = plan.book.run(model, pad_id(tokenizer), packed=packed)
    t1 = time.perf_counter()
    answers, knowmem = {}, {}
    for name, ev in plan.qa.items():
        if ev.prompts:
            ids = generate_ids(model, ev.prompts, ev.budgets, pad_id(tokenizer), tokenizer.eos_token_id, batch_size,
                               recycle=recycle)
            answers[name] = [_decode(tokenizer, g) for g in ids]
            knowmem[name] = [cut_knowmem(_decode(tokenizer, g[:KNOWMEM_NEW])) for g in ids]
    verb = None
    if plan.verb is not None:
        ids = generate_ids(model, plan.verb.prompts, [VERBMEM_NEW] * len(plan.verb.prompts), pad_id(tokenizer),
                           tokenizer.eos_token_id, batch_size, recycle=recycle)
        verb = [_decode(tokenizer, g) for g in ids]
    t2 = time.perf_counter()
    metrics = qa_metrics(plan, stats, answers)
    metrics |= memorization_metrics(plan, stats, knowmem, verb)
    metrics |= mia_metrics(plan, stats)
    metrics |= utility_metrics(metrics)
    timing = {"scoring_s": t1 - t0, "generation_s": t2 - t1, "metrics_s": time.perf_counter() - t2,
              "sequences": len(plan.book), "generations": sum(len(v) for v in answers.values()) + len(verb or [])}
    return metrics, timing


def same_weights(a, b) -> bool:
    """True when `b` is `a`, or a model of the same class with bit-identical parameters and buffers (an oracle
    given as the model's own path): scoring it again would only repeat the same numbers."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k].to(sa[k].device))
        for k in sa)


def check_same_tokenizer(tokenizer, other, model=None, oracle_model=None) -> None:
    """The oracle must read the same token ids: same vocabulary, same embedding size."""
    if other is not None and other is not tokenizer and other.get_vocab() != tokenizer.get_vocab():
        raise ModelError(f"the oracle's tokenizer differs from the model's ({len(other)} vs {len(tokenizer)} "
                         "tokens, or different token ids); rule: the oracle is trained with the model's tokenizer")
    if model is not None and oracle_model is not None:
        a = model.get_input_embeddings().weight.shape[0]
        b = oracle_model.get_input_embeddings().weight.shape[0]
        if a != b:
            raise ModelError(f"the oracle's embedding has {b} rows, the model's {a}; rule: the oracle shares the "
                             "model's tokenizer and vocabulary")


def resolve_oracle(oracle, tokenizer, model):
    """oracle: a model (shares `tokenizer`), a (model, tokenizer) pair, or a path/hub name to load."""
    from obliviate.models import load

    if isinstance(oracle, (str, Path)):
        o_model, o_tok = load(oracle)
    elif isinstance(oracle, tuple):
        o_model, o_tok = oracle
    else:
        o_model, o_tok = oracle, None
    check_same_tokenizer(tokenizer, o_tok, model, o_model)
    return o_model


def load_oracle_results(src, section_first: bool = True) -> tuple[dict, str]:
    """Per-item metrics from a saved results.json: its `oracle` section when filled (and `section_first`), else
    its own metrics (the file of an oracle evaluated against itself, or a target's results)."""
    if isinstance(src, dict):
        data, where = check_results(src, "oracle_results"), "oracle_results"
    else:
        data, where = read_results(src), str(src)
    section = ((data.get("oracle") or {}).get("metrics") if section_first else None) or data.get("metrics")
    if not section:
        raise ObliviateError(f"{where}: no metrics in the oracle results (rule: a results.json written by "
                             "obliviate eval)")
    return section, where


def _need(metrics: dict, oracle: dict, where: str) -> None:
    for key in ("forget/truth_ratio", "mia/loss", "mia/min_k"):
        if key in metrics and key not in oracle:
            raise ObliviateError(f"{where}: oracle results lack {key!r}; evaluate the oracle on the same splits "
                                 "with the same suite")


def memorisation_flags(training: dict) -> list[str]:
    """One line per model (target, oracle) whose training ended below its stop accuracy."""
    return [f"{role} not memorised (greedy exact answers {t.get('accuracy')} < {t.get('stop_at_accuracy')}): "
            "comparisons are not meaningful" for role, t in training.items() if t and t.get("memorised") is False]


def conventions(plan: Plan) -> dict[str, str]:
    out = {
        "rouge": ROUGE_CONVENTION,
        "truth_ratio": TRUTH_RATIO_CONVENTION,
        "mia": MIA_CONVENTION,
        "prompt_format": "trained QA format: '[bos]Question: {q}\\nAnswer:' + ' {a}' + eos; answer tokens incl. "
                         "EOS are scored",
        "memorization": "exact_memorization and extraction_strength read the teacher-forced argmax on the answer "
                        "tokens without the final EOS (every model predicts it, so it would floor ES at 1/|y|); "
                        "ES = 1 - k/|y| for the smallest k with argmax[k:] == labels[k:], and 0 when no suffix "
                        "matches (not even the last answer token: no 1/|y| floor)",
        "generation": "greedy, batched with left padding and KV cache, cut at EOS; TOFU answers get "
                      "max(32, 200 - prompt tokens) new tokens; knowmem reads the first 32 of the same generation; "
                      "by Token Recycling where on (eval.token_recycling): the same tokens as one-token decoding, a "
                      "token whose top-2 logit margin is under 1e-3 decided by one-token decoding",
        "scoring": "teacher-forced log-probs; sequences that share a prompt are scored as one token tree (tree "
                   "attention mask, depth position ids) where on (eval.packed_scoring): the values of one padded "
                   "row per sequence up to float rounding",
        "knowmem": "no in-context examples: the question in the trained QA format (tiny models cannot use "
                   "MUSE's 10-shot prompt), cut at a blank line, '\\nQuestion' or 'Question:' (not at the "
                   "word 'Question' inside an answer)",
        "verbmem": "prompt = bos + first 32 tokens of each forget text (a text of n <= 32 tokens: its first n/2), "
                   "128 greedy new tokens, ROUGE-L F1 x100 against the next 128 tokens",
        "evaluation_sets": "every item of every split (no cap); prob and rouge on the split itself, truth ratio "
                           "and prob_norm on its *_perturbed variant when the source has one",
        "model_utility": "harmonic mean of prob (prob_norm for real_authors, world_facts), rouge_l_recall and "
                         "truth_ratio over retain, real_authors, world_facts where present; a component missing "
                         "from a present split is named in model_utility.missing and .note",
        "bootstrap": "95% percentile bootstrap, 1000 resamples, seed 0; model_utility resamples each split's "
                     "items jointly (one draw for an item's prob, rouge and truth ratio; a truth ratio on a "
                     "*_perturbed set of another size is drawn on its own); AUC and privleak resample forget and "
                     "holdout separately; forget_quality has no CI (p_range: the spread of bootstrap p-values)",
        "cost_ratio": "unlearning wall time / oracle training wall time",
        "processes": "under torchrun / accelerate launch, whole scoring and generation batches (the same batches "
                     "as one process) are dealt round-robin over the processes and gathered in item order: "
                     "every value is the one a single process computes",
    }
    if plan.mia is not None:
        out["mia_gradnorm"] = "gradnorm attack not computed (optional in metrics.md; one backward pass per text)"
        out["mia_items"] = ("forget vs holdout QA answers (answer tokens given the question; zlib of the answer)"
                            if plan.mia.kind == "qa" else
                            f"forget vs holdout raw texts, no EOS appended, each scored whole up to "
                            f"{plan.max_positions} positions incl. bos (the model's context); zlib on the text "
                            "scored (the decoded kept part when cut)")
    return out | plan.notes


def evaluate(model, tokenizer, splits, oracle=None, oracle_results=None, suite: str = "all", *,
             target_results=None, config: dict | None = None, cost: dict | None = None, name: str = "model",
             curve: list | None = None, batch_size: int = 32, seed: int | None = None,
             training: dict | None = None, recycle: bool | None = None,
             packed: bool | None = None) -> dict[str, Any]:
    """Evaluate `model` on `splits` against the oracle; returns a results.json dict (docs/results.md).

    `training`: {"target": ..., "oracle": ...} summaries of their train.json (`models.train.training_summary`);
    a model that did not memorise its training data is flagged in `warnings` (comparisons are not meaningful).
    """
    t0 = time.perf_counter()
    plan = build_plan(tokenizer, splits, suite, max_positions=context_length(model))
    if oracle is None and oracle_results is None and ("forget" in plan.truth or plan.mia is not None):
        raise ObliviateError(NO_ORACLE)  # before any scoring: fail fast
    oracle_model = resolve_oracle(oracle, tokenizer, model) if oracle is not None else None
    metrics, timing = score_model(model, tokenizer, plan, batch_size, recycle, packed)
    o_metrics, source = None, None
    if oracle_model is not None and same_weights(model, oracle_model):
        # the oracle against itself (the same object, or the same weights loaded twice): no second pass
        o_metrics, source = copy.deepcopy(metrics), "model (itself)" if oracle_model is model else "model (same weights)"
    elif oracle_model is not None:
        o_metrics, o_timing = score_model(oracle_model, tokenizer, plan, batch_size, recycle, packed)
        source = str(oracle) if isinstance(oracle, (str, Path)) else "model"
        timing["oracle"] = o_timing
    elif oracle_results is not None:
        o_metrics, source = load_oracle_results(oracle_results)
        _need(metrics, o_metrics, source)
    if o_metrics is not None:
        if "forget/truth_ratio" in metrics:
            metrics["forget_quality"] = forget_quality(metrics, o_metrics)
        if plan.mia is not None:
            metrics |= oracle_privacy(metrics, o_metrics)
    target = load_oracle_results(target_results, section_first=False)[0] if target_results is not None else None
    extra = {"name": name, "track": "llm", "curve": curve or []}
    if training:
        extra["training"] = training
        extra["warnings"] = memorisation_flags(training)
    extra["muse"] = muse_table(metrics, o_metrics, target)  # the cells whose numbers this suite produced
    timing["total_s"] = time.perf_counter() - t0
    timing["processes"] = world()[1]
    extra["timing"] = timing
    cfg = {"suite": suite, "splits": getattr(splits, "counts", lambda: {})(), "batch_size": batch_size,
           "data": getattr(splits, "name", None)} | (config or {})
    return build_results(cfg, metrics, conventions(plan), cost or {},
                         {"source": source, "metrics": o_metrics or {}}, env=env_info(seed=seed), **extra)
