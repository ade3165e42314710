"""What the demo runs in worker processes: train one model into the cache; unlearn and evaluate one method.

Both are top-level functions taking plain dicts, so a spawn-context `ProcessPoolExecutor` can pickle them; each
worker runs torch on one thread (`init_worker`) so that `jobs` workers share the cores without oversubscription.
Workers are persistent: one pool serves every stage and job of a demo (or sweep), and `start_pool` has each of them
import torch, transformers and the run's modules at once (`init_worker`), while the caller builds the corpus and
evaluates the target and oracle: a job never pays the 5–8 s start-up of a fresh interpreter.
"""
from __future__ import annotations

import contextlib
import time
import traceback
from pathlib import Path

from obliviate.run import COST_KEYS, metric_values

SUMMARY_METRICS = ("forget_quality", "model_utility", "privleak", "knowmem_f", "knowmem_r")


_STARTED: dict[str, float] = {}


LLM_MODULES = ("transformers.models.llama.modeling_llama", "obliviate.engine", "obliviate.eval.suite",
               "obliviate.models.corpus", "obliviate.run")  # what the LLM demo's jobs use


def init_worker(threads: int = 1, preload: tuple[str, ...] = LLM_MODULES) -> None:
    """Setup of a spawned worker process (the demo's own, not the caller's): torch threads, no per-file progress
    bars from transformers (they interleave), no UserWarnings (every job would repeat the same ones); and the
    modules its jobs use (`preload`) imported now, once per worker (its seconds kept for `ready`)."""
    t0 = time.perf_counter()
    import importlib
    import warnings

    import torch
    from transformers.utils import logging

    for name in preload:
        importlib.import_module(name)
    if threads:
        torch.set_num_threads(threads)
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning)
    _STARTED["import_s"] = time.perf_counter() - t0


def ready(_: int = 0) -> dict:
    """A no-op job: submitting one per worker starts them all now (a pool spawns its workers on demand); returns
    the worker's pid and the seconds its start-up imports took."""
    import os

    return {"pid": os.getpid(), "import_s": _STARTED.get("import_s", 0.0)}


def start_pool(jobs: int, preload: tuple[str, ...] = LLM_MODULES):
    """A spawn-context pool of `jobs` persistent one-thread workers, all started (importing `preload`) in the
    background; returns (pool, futures of their `ready` answers)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                               initargs=(1, preload))
    return pool, [pool.submit(ready, i) for i in range(jobs)]


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
            "summary": metric_values(results["metrics"], SUMMARY_METRICS), "cost": results["cost"],
            "stopped_at": (results.get("stop") or {}).get("fired_at")}


