"""`obliviate demo`: the quick demo end to end (cold cache, then warm), and its pure parts (summary, settings).

The end-to-end test runs `obliviate demo --quick` from an empty cache into tmp_path (~35 s on 2 cores), then a
second run on the same cache in 2 worker processes that must not retrain, with one method made to fail: the
others still finish, the failure is printed and the command exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import time

import pytest

from obliviate.config import ConfigError
from obliviate.demo import register, summary
from obliviate.demo.settings import DemoConfig, cache_key, select_methods
from obliviate.methods import available


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="obliviate")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", *argv])
    return args.func(args)


def test_quick_demo_cold_then_cached(tmp_path, capsys, monkeypatch):
    out, cache = tmp_path / "demo", tmp_path / "cache"
    t0 = time.perf_counter()
    rc = _cli(["--quick", "--out", str(out), "--cache", str(cache)])  # quick runs in-process by default
    cold = time.perf_counter() - t0
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "target: trained" in printed and "oracle: trained" in printed
    for method in available("llm"):
        results = json.loads((out / method / "results.json").read_text())
        assert results["name"] == method
        for name in ("forget_quality", "model_utility"):
            assert isinstance(results["metrics"][name]["value"], float), (method, name)
        steps = [p["step"] for p in results["curve"]]
        assert steps[0] == 0 and len(steps) >= 3 and steps == sorted(steps), (method, steps)
        assert results["cost"]["cost_ratio"] > 0 and results["cost"]["oracle"]["wall_time_s"] > 0
        assert results["config"]["spec"]["train"]["max_steps"] == 6
    for role in ("target", "oracle"):
        assert json.loads((out / role / "results.json").read_text())["name"] == role
    assert (out / "report.html").stat().st_size > 10_000
    assert "oracle band" in printed and "total wall time" in printed
    table = printed[printed.index("oracle band"):]
    assert all(m in printed for m in available("llm")) and "FAILED" not in table

    # Warm cache, in 2 worker processes, one method broken on purpose (a bad key in its config), one fine.
    import obliviate.demo.pipeline as pipeline

    real = pipeline.method_fragment
    monkeypatch.setattr(pipeline, "method_fragment",
                        lambda m, quick: {"method": {"name": "ga", "nope": 1}} if m == "ga" else real(m, quick))
    t0 = time.perf_counter()
    # A generous per-job limit: on a loaded machine this is slow, never hung; a hang is reported with its stage.
    rc = _cli(["--quick", "--out", str(out), "--cache", str(cache), "--jobs", "2", "--methods", "npo,ga",
               "--job-timeout", "500"])
    warm = time.perf_counter() - t0
    printed = capsys.readouterr().out
    assert rc == 1
    assert "target: cached" in printed and "oracle: cached" in printed and "trained" not in printed
    assert "ga: FAILED" in printed and "nope" in printed
    assert (out / "npo" / "results.json").is_file() and (out / "ga" / "error.txt").is_file()
    assert not (out / "ga" / "results.json").exists()  # the cold run's file is not passed off as this run's
    outcome = json.loads((out / "summary.json").read_text())
    assert outcome["errors"].keys() == {"ga"} and outcome["cache"] == {"target": "cached", "oracle": "cached"}
    assert outcome["timings"]["train"] < 2.0, outcome["timings"]
    print(f"quick demo: cold {cold:.1f} s, warm (2 methods, jobs 2) {warm:.1f} s")


def _results(fq, mu, ratio=None):
    return {"metrics": {"forget_quality": {"value": fq}, "model_utility": {"value": mu}},
            "cost": {"cost_ratio": ratio}}


def test_band_rule():
    """Band: fq >= 0.05 and mu >= 0.9 x target's. Target mu 0.5 -> threshold 0.45."""
    assert summary.row("a", _results(0.05, 0.45), 0.5)["band"] is True
    assert summary.row("b", _results(0.049, 0.6), 0.5)["band"] is False
    assert summary.row("c", _results(0.9, 0.449), 0.5)["band"] is False
    assert summary.row("d", _results(None, 0.6), 0.5)["band"] is None
    assert summary.row("e", _results(float("nan"), 0.6), 0.5)["forget_quality"] is None


def test_table_shows_numbers_and_failures():
    rows = [summary.row("target", _results(1e-4, 0.5), 0.5),
            summary.row("npo", _results(0.31, 0.47, 0.02), 0.5),
            summary.row("ga", None, 0.5, error="ConfigError: method.nope: unknown key")]
    text = summary.format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["model", "forget_q", "utility"]
    assert "1.00e-04" in text and "0.02x" in text
    assert [ln for ln in lines if ln.startswith("npo")][0].split()[-1] == "yes"
    assert "ga" in text and "FAILED: ConfigError: method.nope" in text


def test_select_methods():
    assert select_methods(()) == available("llm")
    assert select_methods(["rmu", "npo", "rmu"]) == ["rmu", "npo"]
    with pytest.raises(ConfigError, match="nope"):
        select_methods(["npo", "nope"])


def test_config_modes_and_checks():
    quick = DemoConfig.for_mode(True)
    assert (quick.preset, quick.persons, quick.n_holdout) == ("tiny", 20, 2)
    assert quick.jobs == 1 and DemoConfig.for_mode(True, jobs=2).jobs == 2
    full = DemoConfig.for_mode(False, persons=150, jobs=None)
    assert (full.preset, full.persons, full.n_holdout, full.jobs) == ("small", 150, 15, 2)
    with pytest.raises(ConfigError, match="persons"):
        DemoConfig.for_mode(True, persons=3).check()
    with pytest.raises(ConfigError, match="jobs"):
        DemoConfig.for_mode(True, jobs=0).check()


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path))
    assert DemoConfig().cache_dir == tmp_path
    assert DemoConfig(cache=tmp_path / "x").cache_dir == tmp_path / "x"


def test_cache_key_covers_its_inputs():
    base = cache_key("abc", "tiny", {"lr": 1e-3}, 0, "full")
    assert base == cache_key("abc", "tiny", {"lr": 1e-3}, 0, "full")
    changed = [cache_key("abd", "tiny", {"lr": 1e-3}, 0, "full"), cache_key("abc", "small", {"lr": 1e-3}, 0, "full"),
               cache_key("abc", "tiny", {"lr": 2e-3}, 0, "full"), cache_key("abc", "tiny", {"lr": 1e-3}, 1, "full"),
               cache_key("abc", "tiny", {"lr": 1e-3}, 0, "retain90")]
    assert base not in changed and len(set(changed)) == len(changed)


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, obliviate.demo; print(any(m in sys.modules for m in ('torch', 'transformers', 'numpy')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def _sleep_or_die(job: dict) -> str:
    """A worker job for the pool tests: sleeps, or kills its own process."""
    import os

    if job.get("die"):
        os._exit(3)
    time.sleep(job["sleep"])
    return job["method"]


@pytest.mark.parametrize("case", ["hang", "die"])
def test_a_hung_or_dead_worker_is_reported_with_its_stage(case, tmp_path):
    """A job outliving job_timeout, or a worker process that dies, comes back as a WorkerError naming the stage
    and the job (not a bare timeout); a fast job of the same stage still returns its result."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from obliviate.demo.pipeline import Demo, WorkerError

    demo = Demo(DemoConfig.for_mode(True, out=tmp_path, jobs=2, job_timeout=20))
    demo.pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    warm = [demo.pool.submit(_sleep_or_die, {"method": "warm", "sleep": 2}) for _ in range(2)]
    assert [f.result() for f in warm] == ["warm", "warm"]  # both workers started before the clock runs
    bad = {"method": "slowpoke", "sleep": 3600} if case == "hang" else {"method": "slowpoke", "die": True}
    jobs = [{"method": "quick", "sleep": 0}, bad]
    found = dict((job["method"], res) for job, res in demo._map("methods", _sleep_or_die, jobs))
    if demo.pool is not None:
        demo.pool.shutdown(cancel_futures=True)
    assert isinstance(found["slowpoke"], WorkerError)
    assert str(found["slowpoke"]).startswith("methods: ") and "slowpoke" in str(found["slowpoke"])
    assert ("did not finish within 20 s" if case == "hang" else "died") in str(found["slowpoke"])
    if case == "hang":
        assert found["quick"] == "quick" and demo.pool is None  # the hung worker was ended


def test_quiet_restores_the_callers_warnings_and_verbosity():
    import warnings

    from transformers.utils import logging

    from obliviate.demo.workers import quiet

    before_filters, before_level = list(warnings.filters), logging.get_verbosity()
    with quiet():
        assert logging.get_verbosity() == logging.ERROR
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("hidden", UserWarning, stacklevel=1)
        assert not seen  # UserWarnings are ignored inside
    assert list(warnings.filters) == before_filters and logging.get_verbosity() == before_level
