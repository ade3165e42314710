"""The demo's persistent workers (started at once, each importing once) and its use of `stop: holdout`."""
from __future__ import annotations

from pathlib import Path

import pytest

from obliviate.config import ConfigError
from obliviate.demo.settings import DemoConfig


def test_the_holdout_stop_is_opt_in():
    assert DemoConfig.for_mode(False).stop == "none" and DemoConfig.for_mode(True).stop == "none"
    assert DemoConfig.for_mode(False, stop="holdout").stop == "holdout"
    with pytest.raises(ConfigError, match="--stop"):
        DemoConfig(stop="oracle").check()


def test_method_spec_carries_the_stop(tmp_path):
    from obliviate.demo.pipeline import Demo

    demo = Demo(DemoConfig.for_mode(False, out=tmp_path, methods=("npo",), stop="holdout"), log=lambda *a: None)
    models = {"paths": {"target": str(tmp_path / "t"), "oracle": str(tmp_path / "o")}}
    spec = demo.method_spec("npo", Path(tmp_path / "corpus"), models)
    assert spec["stop"] == {"rule": "holdout", "every": 8}
    quick = Demo(DemoConfig.for_mode(True, out=tmp_path, methods=("npo",)), log=lambda *a: None)
    assert "stop" not in quick.method_spec("npo", Path(tmp_path / "corpus"), models)


def test_pool_starts_every_worker_once_and_reuses_it():
    from obliviate.demo.workers import ready, start_pool

    pool, warming = start_pool(2)
    try:
        started = [f.result(timeout=600) for f in warming]
        assert all(w["import_s"] > 0 for w in started)
        again = [pool.submit(ready).result(timeout=600) for _ in range(4)]
        # later jobs run in the same two processes: no new start-up (which worker answered which `ready` is not
        # fixed: under load one worker can answer both before the other has finished importing)
        assert len({w["pid"] for w in started + again}) <= 2
    finally:
        pool.shutdown()
