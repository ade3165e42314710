"""What the demo runs in worker processes: train one model into the cache; unlearn and evaluate one method.

Both are top-level functions taking plain dicts, so a spawn-context `ProcessPoolExecutor` can pickle them; each
worker runs torch on one thread (`init_worker`) so that `jobs` workers share the cores without oversubscription.
"""
from __future__ import annotations

import contextlib
import time
import traceback
from pathlib import Path

from obliviate.run import COST_KEYS, metric_values

SUMMARY_METRICS = ("forget_quality", "model_utility", "privleak", "knowmem_f", "knowmem_r")


def init_worker(threads: int = 1) -> None:
    """Setup of a spawned worker process (the demo's own, not the caller's): torch threads, no per-file progress
    bars from transformers (they interleave), no UserWarnings (every job would repeat the same ones)."""
    import warnings

    import torch
    from transformers.utils import logging

    if threads:
        torch.set_num_threads(threads)
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning)


@contextlib.contextmanager
def quiet():
    """The same quiet for work done in the caller's process, undone on exit: warnings filters and transformers'
    verbosity and progress bars are put back as they were."""
    import warnings

    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def train_model(job: dict) -> dict:
    """Train `job["split"]` of the corpus into `job["dest"]` (atomically); returns the train.json summary."""
    from obliviate.models.corpus import train_on_corpus

    log = train_on_corpus(job["corpus"], job["split"], job["dest"], job["preset"], job["overrides"],
                          progress=False)
    return {k: log.get(k) for k in (*COST_KEYS, "final_loss", "accuracy", "items")}


def run_method(job: dict) -> dict:
    """`obliviate.run` of one method's spec (unlearn, evaluate against the oracle, write OUT/results.json);
    never raises: a failure is returned, with its traceback in OUT/error.txt."""
    t0 = time.perf_counter()
    out = Path(job["spec"]["out"])
    try:
        from obliviate.run import run

        results = run(job["spec"])
    except Exception as e:  # one method's failure must not lose the others: record it and go on
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(traceback.format_exc())
        return {"method": job["method"], "error": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    return {"method": job["method"], "results": str(out / "results.json"), "seconds": time.perf_counter() - t0,
            "summary": metric_values(results["metrics"], SUMMARY_METRICS), "cost": results["cost"]}


