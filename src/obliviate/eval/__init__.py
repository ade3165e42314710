"""Evaluation: TOFU and MUSE metrics, membership inference and privleak, always against the oracle.

    from obliviate.eval import evaluate, make_eval_hook
    results = evaluate(model, tokenizer, splits, oracle="models/oracle")   # a results.json dict
CLI: `obliviate eval --model M --oracle O --data DIR --forget forget10 --out results.json` (eval/cli.py).
Names load on first use, so the command line parses without importing torch.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {"evaluate": ".suite", "make_eval_hook": ".hooks"}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
