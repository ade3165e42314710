"""What the demo runs in worker processes: train one model into the cache; unlearn and evaluate one method.

Both are top-level functions taking plain dicts, so a spawn-context `ProcessPoolExecutor` can pickle them; each
worker runs torch on one thread (`init_worker`) so that `jobs` workers share the cores without oversubscription.
"""
from __future__ import annotations

import time
import traceback
from pathlib import Path

# Metrics followed during unlearning: log-prob ones only (generation at every curve point would cost more than the
# unlearning itself on the full demo); model_utility and knowmem are measured once at the end. retain/truth_ratio
# is left out: its perturbed answers would add ~1,000 sequences to every curve point of the full demo.
CURVE_METRICS = ("forget_quality", "forget/truth_ratio", "privleak", "forget/prob", "retain/prob")
SUMMARY_METRICS = ("forget_quality", "model_utility", "privleak", "knowmem_f", "knowmem_r")
COST_KEYS = ("wall_time_s", "steps", "tokens", "peak_memory_mb")


def init_worker(threads: int = 1) -> None:
    """Per-process setup: torch threads, and no per-file progress bars from transformers (they interleave)."""
    import warnings

    import torch
    from transformers.utils import logging

    if threads:
        torch.set_num_threads(threads)
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning)


def train_model(job: dict) -> dict:
    """Train `job["split"]` of the corpus into `job["dest"]` (atomically); returns the train.json summary."""
    from obliviate.models.corpus import train_on_corpus

    log = train_on_corpus(job["corpus"], job["split"], job["dest"], job["preset"], job["overrides"],
                          progress=False)
    return {k: log.get(k) for k in (*COST_KEYS, "final_loss", "accuracy", "items")}


def train_cost(log: dict | None) -> dict:
    """The cost block of a trained model, from its train.json."""
    return {k: (log or {}).get(k) for k in COST_KEYS}


def curve_hook(tokenizer, splits, oracle_results: dict):
    """The engine's evaluation hook for the unlearning curves: `eval.hooks.make_eval_hook` (log-prob metrics, one
    scoring pass, no generation) against the saved oracle values. Its time is kept in `hook.seconds` so that it
    can be left out of the method's cost, and the model is put back in training mode after each call."""
    from obliviate.eval.hooks import make_eval_hook
    from obliviate.models.scoped import eval_mode

    inner = make_eval_hook(tokenizer, splits, CURVE_METRICS, oracle_results=oracle_results)

    def hook(model, step: int, epoch: float) -> dict[str, float]:
        t0 = time.perf_counter()
        with eval_mode(model):
            found = inner(model, step, epoch)
        hook.seconds += time.perf_counter() - t0
        return found

    hook.seconds = 0.0
    return hook


def values(metrics: dict, names) -> dict[str, float]:
    return {n: metrics[n]["value"] for n in names if n in metrics and metrics[n].get("value") is not None}


def eval_stride(overrides: dict, n_forget: int) -> dict[str, str]:
    """engine.eval_every for ~4 curve points over the run, unless the shipped config sets its own."""
    from obliviate.config import replace_checked
    from obliviate.engine import RunConfig

    if "engine.eval_every" in overrides or "engine.eval_every_epochs" in overrides:
        return {}
    cfg = replace_checked(RunConfig(), {k: v for k, v in overrides.items() if not k.startswith("method.")})
    per_epoch = -(-n_forget // cfg.train.batch_size)
    total = cfg.train.max_steps or cfg.train.epochs * per_epoch
    return {"engine.eval_every": str(max(1, round(total / 4)))}


def run_method(job: dict) -> dict:
    """Unlearn with one method, evaluate against the oracle, write `job["out"]/results.json`; never raises."""
    t0 = time.perf_counter()
    out = Path(job["out"])
    try:
        results = _unlearn_and_evaluate(job)
    except Exception as e:  # one method's failure must not lose the others: record it and go on
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(traceback.format_exc())
        return {"method": job["method"], "error": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    return {"method": job["method"], "results": str(out / "results.json"), "seconds": time.perf_counter() - t0,
            "summary": values(results["metrics"], SUMMARY_METRICS), "cost": results["cost"]}


def _unlearn_and_evaluate(job: dict) -> dict:
    import json

    from obliviate._atomic import atomic_write_json
    from obliviate.data import load_splits
    from obliviate.engine import unlearn
    from obliviate.eval.suite import evaluate
    from obliviate.models import load
    from obliviate.results import write_results

    method, out = job["method"], Path(job["out"])
    splits = load_splits(job["corpus"], forget=job["forget"])
    oracle = json.loads(Path(job["oracle_results"]).read_text())
    target = json.loads(Path(job["target_results"]).read_text())
    model, tokenizer = load(job["target"])
    overrides = {**job["overrides"], "train.seed": str(job["seed"]), "engine.progress": "false"}
    overrides |= eval_stride(overrides, len(splits.forget))
    hook = curve_hook(tokenizer, splits, oracle)
    model, log = unlearn(model, tokenizer, splits.forget, splits.retain or [], method, overrides, eval_hook=hook)
    atomic_write_json(out / "run.json", log)
    cost = method_cost(log["totals"], hook.seconds, job["oracle_train"])
    start = {"step": 0, "epoch": 0.0, "metrics": values(target["metrics"], CURVE_METRICS)}
    config = {"role": "method", "method": method, "overrides": overrides, "target": job["target"],
              "forget": job["forget"], "corpus": job["corpus"], **log["config"]}
    results = evaluate(model, tokenizer, splits, oracle_results=oracle, target_results=target, config=config,
                       cost=cost, name=method, seed=job["seed"], training=job.get("training"))
    results["curve"] = [start, *log["curve"]]
    write_results(out / "results.json", results)
    return results


def method_cost(totals: dict, hook_seconds: float, oracle_train: dict) -> dict:
    """Unlearning cost without the evaluation hook's time, next to the oracle's training cost."""
    from obliviate.results import cost_ratio

    wall = max(0.0, totals["wall_time_s"] - hook_seconds)
    oracle_wall = oracle_train.get("wall_time_s")
    return {"wall_time_s": round(wall, 3), "steps": totals["steps"], "tokens": totals["tokens"],
            "peak_memory_mb": totals["peak_memory_mb"], "eval_hook_s": round(hook_seconds, 3),
            "oracle": oracle_train, "cost_ratio": cost_ratio(wall, oracle_wall)}
