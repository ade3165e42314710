"""An evaluation hook for the engine: a named, cheap subset of the suite every N steps, so unlearning curves exist.

    hook = make_eval_hook(tok, splits, metrics=("forget/prob", "forget/truth_ratio", "mia/min_k"))
    model, log = obliviate.engine.unlearn(model, tok, splits.forget, splits.retain, "npo", eval_hook=hook)
    # log["curve"] = [{"step": 10, "epoch": 0.5, "metrics": {"forget/prob": 0.61, ...}}, ...]

Only log-prob metrics are offered (no generation): one scoring pass over the sets they need, tokenized once when
the hook is made. forget_quality and privleak are available when saved oracle per-item values are given.
"""
from __future__ import annotations

from types import SimpleNamespace

from obliviate.errors import ConfigError
from obliviate.models import pad_id
from obliviate.models.scoped import eval_mode

from .knowledge import qa_metrics
from .memorization import memorization_metrics
from .plan import build_plan
from .privacy import mia_metrics, oracle_privacy
from .suite import load_oracle_results
from .utility import forget_quality

DEFAULT_METRICS = ("forget/prob", "retain/prob", "forget/truth_ratio", "exact_memorization", "mia/min_k")
_SPLIT_METRICS = ("prob", "truth_ratio", "prob_norm")
_MODEL_METRICS = ("exact_memorization", "extraction_strength", "mia/loss", "mia/zlib", "mia/min_k", "mia/min_k_pp")
_ORACLE_METRICS = ("forget_quality", "privleak", "mia/reference")


def _check(metrics, oracle) -> None:
    for name in metrics:
        split, _, base = name.rpartition("/")
        ok = name in _MODEL_METRICS or name in _ORACLE_METRICS or (split and split != "mia"
                                                                   and base in _SPLIT_METRICS)
        if not ok:
            raise ConfigError(f"eval hook metric {name!r}: not available during training; choose SPLIT/prob, "
                              f"SPLIT/truth_ratio, SPLIT/prob_norm, {', '.join(_MODEL_METRICS + _ORACLE_METRICS)}")
        if name in _ORACLE_METRICS and oracle is None:
            raise ConfigError(f"eval hook metric {name!r} needs the oracle's saved per-item values: pass "
                              "oracle_results=PATH")
        needs = "forget/truth_ratio" if name == "forget_quality" else "mia/loss"
        if name in _ORACLE_METRICS and needs not in oracle:
            raise ConfigError(f"eval hook metric {name!r}: the oracle results lack {needs!r} (evaluate the "
                              "oracle with a suite that includes it)")


def _subset(splits, metrics) -> SimpleNamespace:
    """Only the splits the named metrics read, so the hook scores nothing else."""
    keep = {name.split("/")[0] for name in metrics if "/" in name and not name.startswith("mia/")}
    keep.add("forget")
    if any(n.startswith("mia/") or n == "privleak" for n in metrics):
        keep |= {"holdout", "forget_texts", "holdout_texts"}
    if any("truth_ratio" in n or "prob_norm" in n or n == "forget_quality" for n in metrics):
        keep |= {f"{k}_perturbed" for k in list(keep)}
    return SimpleNamespace(**{k: getattr(splits, k, None) for k in keep})


def make_eval_hook(tokenizer, splits, metrics=DEFAULT_METRICS, oracle_results=None):
    """Returns hook(model, step, epoch=None) -> {metric name: float} for the engine's `eval_hook`."""
    metrics = tuple(metrics)
    oracle = load_oracle_results(oracle_results)[0] if oracle_results is not None else None
    _check(metrics, oracle)
    plan = build_plan(tokenizer, _subset(splits, metrics), "all", generate=False)
    if plan.mia is None and any(n.startswith("mia/") or n == "privleak" for n in metrics):
        raise ConfigError("eval hook: membership-inference metrics need a holdout split; this data has none")

    def hook(model, step: int, epoch: float | None = None) -> dict[str, float]:
        with eval_mode(model):  # the engine's loop gets its model back in training mode
            stats = plan.book.run(model, pad_id(tokenizer))
        found = qa_metrics(plan, stats, {}) | memorization_metrics(plan, stats, {}, None) | mia_metrics(plan, stats)
        if oracle is not None:
            if "forget_quality" in metrics:
                found["forget_quality"] = forget_quality(found, oracle)
            if plan.mia is not None and any(n in metrics for n in ("privleak", "mia/reference")):
                found |= oracle_privacy(found, oracle)
        return {n: float(found[n]["value"]) for n in metrics if n in found}

    return hook
