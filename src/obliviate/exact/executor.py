"""Fan shard jobs out through an existing engine: a local process pool (default), Ray, or the calling process.

    results = fan_out(train_shard, jobs, executor="process", workers=2)

`fn` must be a module-level function and each job picklable. Results come back in the order of `jobs`. Workers
are started with `spawn` (a forked torch process can hang in OpenMP). One job under "process" runs in the calling
process: a pool would only add a start-up. "ray" needs the optional extra `obliviate[ray]`; it joins the cluster
named by RAY_ADDRESS when set, otherwise starts a local one (and shuts it down afterwards).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from obliviate.errors import ConfigError

EXECUTORS = ("process", "serial", "ray")


def check_executor(name: str) -> str:
    if name not in EXECUTORS:
        raise ConfigError(f"--executor: must be one of {', '.join(EXECUTORS)}, got {name!r}")
    return name


def fan_out(fn: Callable[[Any], Any], jobs: Sequence[Any], executor: str = "process",
            workers: int | None = None) -> list[Any]:
    """[fn(job) for job in jobs], run by `executor`; `workers` caps the parallelism (default: one per CPU)."""
    check_executor(executor)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    if not jobs:
        return []
    n = min(len(jobs), workers or os.cpu_count() or 1)
    if executor == "serial" or (executor == "process" and n == 1):
        return [fn(job) for job in jobs]
    if executor == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(fn, jobs))
    return _ray(fn, jobs, n)


def _ray(fn, jobs, n: int) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'obliviate[ray]'") from None
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        kw = {"address": address} if address else {"num_cpus": n, "include_dashboard": False}
        ray.init(log_to_driver=False, configure_logging=False, **kw)
    try:
        remote = ray.remote(num_cpus=1)(fn)
        return ray.get([remote.remote(job) for job in jobs])
    finally:
        if started:
            ray.shutdown()
