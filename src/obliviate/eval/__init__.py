"""Evaluation: TOFU and MUSE metrics, membership inference and privleak, always against the oracle.

    from obliviate.eval import evaluate, make_eval_hook
    results = evaluate(model, tokenizer, splits, oracle="models/oracle")   # a results.json dict
CLI: `obliviate eval --model M --oracle O --data DIR --forget forget10 --out results.json` (eval/cli.py).
"""
from .hooks import make_eval_hook
from .suite import evaluate

__all__ = ["evaluate", "make_eval_hook"]
